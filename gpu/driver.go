//go:build cuda || cudaemu

package gpu

import "unsafe"

// devPtr is a device address. The engine computes with it (pool base plus
// offset) and hands it to kernels as an 8-byte parameter; only the driver
// turns it into the real driver's type.
type devPtr uintptr

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z int }

// deviceInfo is what the engine needs to know of the device: its
// description, the numbers its launch shapes depend on and its memory.
type deviceInfo struct {
	name        string
	cc          [2]int // compute capability
	sms         int    // multiprocessors
	maxSmem     int    // opt-in dynamic shared memory per block (bytes)
	free, total int64  // device memory at start (bytes)
}

// driver is the seam between the engine and the device. Everything above it
// (pools and allocators, parameter packing, launch shapes, every op, the
// row-major → column-major GEMM mapping, staging) is the same Go code in the
// two builds:
//
//   - `-tags cuda`: cudaDriver (driver_cuda.go) over gorgonia.org/cu, the
//     cgo launch shim, NVRTC and cuBLAS;
//   - `-tags cudaemu`: emuDriver (driver_emu.go) over package gpu/emu, which
//     runs the same kernels/*.cu on the CPU; a test instrument, never a GPU.
//
// All methods run on the engine's CUDA goroutine. Copies, memsets, launches
// and GEMMs are queued on the driver's one stream (the emulator runs them at
// once); synchronize waits for them and reports a failure inside them.
type driver interface {
	info() deviceInfo
	// loadKernels compiles (through a disk cache) and loads every kernel of
	// package kernels; it returns a short description of what it did.
	loadKernels() (string, error)
	// function looks up an extern "C" kernel by name.
	function(name string) (kernelRef, error)
	// setMaxDynamicShared opts k in to bytes of dynamic shared memory.
	setMaxDynamicShared(k kernelRef, bytes int) error
	// launch runs k; args is the void** array of parameter pointers.
	launch(k kernelRef, grid, block dim3, smem int, args unsafe.Pointer) error

	memAlloc(n int64) (devPtr, error)
	memFree(p devPtr)
	// memset sets n elements of width bytes (1, 2 or 4) at p to v.
	memset(p devPtr, v uint32, width int, n int64) error
	copyHtoD(dst devPtr, src unsafe.Pointer, n int64) error
	copyDtoH(dst unsafe.Pointer, src devPtr, n int64) error
	copyDtoD(dst, src devPtr, n int64) error
	synchronize() error

	// hostAlloc returns n bytes of staging memory (page-locked on a GPU).
	hostAlloc(n int) (unsafe.Pointer, error)
	hostFree(p unsafe.Pointer)
	newEvent() (event, error)

	// openBLAS opens the GEMM library; the engine falls back to the
	// gemm_simt kernel when it fails. It returns the library's name.
	openBLAS() (string, error)
	// gemm runs one cublasGemmStridedBatchedEx-style product.
	gemm(c colGemm) error

	// close releases the BLAS handle, the modules, the stream and the
	// context (pool memory and staging buffers are freed by the engine).
	close()
}

// event marks a point of the stream (the staging buffers' reuse).
type event interface {
	record() error
	synchronize() error
	destroy()
}
