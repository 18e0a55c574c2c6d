// Package gpu is the CUDA engine of backend.Backend. The engine's code
// (files tagged `cuda || cudaemu`) talks to the device through one narrow
// driver interface (driver.go), with two implementations chosen by build tag:
//
//   - `-tags cuda`: the real driver (driver_cuda.go, compile.go, blas.go)
//     over gorgonia.org/cu, a cgo launch shim, NVRTC and cuBLAS;
//   - `-tags cudaemu`: the emulated driver (driver_emu.go) over package
//     gpu/emu, which runs the same kernels/*.cu on the CPU. Device() says
//     "emulated CUDA (CPU), not a GPU"; Emulated() is true. A test
//     instrument: $SIRL_EMU_ORDER=reverse runs each block's threads in
//     reverse order.
//
// Without either tag New returns backend.ErrNoCUDA and Available is false,
// and nothing here needs CUDA or cgo to build.
//
// The engine with the real driver:
//
//   - one device, its primary context and one stream. All CUDA calls run on
//     one dedicated goroutine locked to its OS thread (runtime.LockOSThread)
//     with the primary context current; every op hands it a closure over a
//     channel and waits. So callers may use the engine from any goroutine
//     (one at a time: ops are serialised by a mutex).
//   - kernels: the sources of package kernels, compiled at start by NVRTC
//     (loaded with dlopen: libnvrtc.so.13/12/11.2) for the present GPU
//     (sm_XY, sm_90a where NVRTC has it), as CUBIN, cached on disk under
//     os.UserCacheDir()/sirl/kernels keyed by sha256 of the source, the
//     arch and the NVRTC version. Launches go through a small cgo shim over
//     cuLaunchKernel with exact-size parameters; kernels that need more than
//     48 KiB of dynamic shared memory get cuFuncSetAttribute first.
//   - matmul: cuBLAS loaded with dlopen (libcublas.so.13/12/11),
//     cublasGemmStridedBatchedEx with fp32 accumulation; a tiled CUDA-core
//     GEMM kernel when cuBLAS is missing or the dtypes mix.
//   - memory: one cuMemAlloc per pool at start (sizes from a PoolPlan),
//     sub-allocated in Go: a bump arena for activations and scratch (reset
//     at once), first-fit free lists with coalescing for the others.
//     Host transfers go through pinned (cuMemAllocHost) staging buffers.
//
// Status: compiled here against the CUDA 11.8 headers; the kernels compile
// with NVRTC 11.8. Untested on a GPU until scripts/gpu-report.sh runs there.
package gpu

import "github.com/sirl-dev/sirl/backend"

// PoolPlan is backend.PoolPlan: the bytes of device memory each pool takes
// at start (built by package memplan from the model that will run).
type PoolPlan = backend.PoolPlan

// Scratch is backend.Scratch, the engine's private pool for the temporaries
// of its ops; a plan without it gets DefaultScratch bytes.
const Scratch = backend.Scratch

// DefaultScratch is backend.DefaultScratch.
const DefaultScratch = backend.DefaultScratch

// EnvVars lists the environment variables the engine, its drivers and
// kernel compilers read (not config keys: the CLI must accept them).
func EnvVars() []string {
	return []string{"SIRL_CUDA_DEVICE", "SIRL_CUDA_INCLUDE", "SIRL_EMU_ORDER", "SIRL_GUARD", "SIRL_KERNEL_CACHE", "SIRL_REQUIRE_CUBLAS"}
}
