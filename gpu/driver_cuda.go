//go:build cuda && !cudaemu

package gpu

/*
#cgo LDFLAGS: -lcuda
#cgo CFLAGS: -I/usr/include -I/usr/local/cuda/include
#include <cuda.h>
#include <stdlib.h>
#include <string.h>

static int sirl_module_load(CUmodule* m, const void* image) { return (int)cuModuleLoadData(m, image); }
static int sirl_module_unload(CUmodule m) { return (int)cuModuleUnload(m); }
static int sirl_module_function(CUfunction* f, CUmodule m, const char* name) {
	return (int)cuModuleGetFunction(f, m, name);
}
static int sirl_func_max_dyn_smem(CUfunction f, int bytes) {
	return (int)cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}
static int sirl_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
		unsigned smem, void* stream, void** args) {
	return (int)cuLaunchKernel(f, gx, gy, gz, bx, by, bz, smem, (CUstream)stream, args, NULL);
}
static int sirl_host_alloc(void** p, size_t n) { return (int)cuMemAllocHost(p, n); }
static int sirl_host_free(void* p) { return (int)cuMemFreeHost(p); }
static const char* sirl_error_string(int r) {
	const char* s = NULL;
	if (cuGetErrorString((CUresult)r, &s) != CUDA_SUCCESS || s == NULL) return "unknown CUDA error";
	return s;
}
static int sirl_device_attr(int* v, int attr, int dev) { return (int)cuDeviceGetAttribute(v, (CUdevice_attribute)attr, dev); }
static int sirl_max_optin_smem(void) { return CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN; }
*/
import "C"

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"unsafe"

	_ "github.com/sirl-dev/sirl/gpu/guard" // must initialise before gorgonia.org/cu
	"gorgonia.org/cu"
)

// kernelRef is a loaded kernel: a CUfunction.
type kernelRef = C.CUfunction

// Emulated reports whether New opens the CUDA emulator: not in this build.
func Emulated() bool { return false }

// Available reports whether a CUDA device can be opened (the guard package
// has already stopped the program when the driver is missing).
func Available() bool {
	n, err := cu.NumDevices()
	return err == nil && n > 0
}

// cuErr turns a CUresult into an error naming what failed.
func cuErr(r C.int, what string) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (CUresult %d)", what, C.GoString(C.sirl_error_string(r)), int(r))
}

// cudaDriver is the real driver: device $SIRL_CUDA_DEVICE, its primary
// context (current on the CUDA goroutine), one non-blocking stream, the
// NVRTC-compiled modules and cuBLAS.
type cudaDriver struct {
	dev    cu.Device
	ctx    cu.CUContext
	stream cu.Stream
	di     deviceInfo
	mods   []C.CUmodule
	blas   *blas
}

// openDriver opens the device and its stream. CUDA goroutine only.
func openDriver() (driver, error) {
	d := &cudaDriver{}
	ord := 0
	if s := os.Getenv("SIRL_CUDA_DEVICE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("gpu: SIRL_CUDA_DEVICE=%q is not a device number", s)
		}
		ord = v
	}
	n, err := cu.NumDevices()
	if err != nil || n == 0 {
		return nil, fmt.Errorf("gpu: no CUDA device (%v)", err)
	}
	if ord < 0 || ord >= n {
		return nil, fmt.Errorf("gpu: SIRL_CUDA_DEVICE=%d but the machine has %d devices", ord, n)
	}
	if d.dev, err = cu.GetDevice(ord); err != nil {
		return nil, fmt.Errorf("gpu: device %d: %w", ord, err)
	}
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("gpu: primary context: %w", err)
	}
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		d.close()
		return nil, fmt.Errorf("gpu: set context: %w", err)
	}
	if d.di.cc[0], d.di.cc[1], err = d.dev.ComputeCapability(); err != nil {
		d.close()
		return nil, fmt.Errorf("gpu: compute capability: %w", err)
	}
	d.di.sms, _ = d.dev.Attribute(cu.MultiprocessorCount)
	d.di.maxSmem = 48 << 10
	var v C.int
	if C.sirl_device_attr(&v, C.sirl_max_optin_smem(), C.int(d.dev)) == 0 {
		d.di.maxSmem = int(v)
	}
	free, total, err := cu.MemInfo()
	if err != nil {
		d.close()
		return nil, fmt.Errorf("gpu: memory info: %w", err)
	}
	d.di.free, d.di.total = int64(free), int64(total)
	d.di.name, _ = d.dev.Name()
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		d.close()
		return nil, fmt.Errorf("gpu: stream: %w", err)
	}
	return d, nil
}

func (d *cudaDriver) info() deviceInfo { return d.di }

// loadKernels compiles the kernels with NVRTC (disk cache) and loads them.
func (d *cudaDriver) loadKernels() (string, error) {
	images, info, err := compileKernels(d.di.cc)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		img := images[n]
		buf := C.CBytes(append(img[:len(img):len(img)], 0))
		var m C.CUmodule
		r := C.sirl_module_load(&m, buf)
		C.free(buf)
		if err := cuErr(r, "cuModuleLoadData"); err != nil {
			return "", fmt.Errorf("gpu: load %s: %w", n, err)
		}
		d.mods = append(d.mods, m)
	}
	return info, nil
}

func (d *cudaDriver) function(name string) (kernelRef, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var f C.CUfunction
	for _, m := range d.mods {
		if C.sirl_module_function(&f, m, cn) == 0 {
			return f, nil
		}
	}
	return f, fmt.Errorf("kernel %s not found in any module", name)
}

func (d *cudaDriver) setMaxDynamicShared(k kernelRef, bytes int) error {
	return cuErr(C.sirl_func_max_dyn_smem(k, C.int(bytes)), fmt.Sprintf("cuFuncSetAttribute(%d bytes of shared memory)", bytes))
}

func (d *cudaDriver) launch(k kernelRef, grid, block dim3, smem int, args unsafe.Pointer) error {
	r := C.sirl_launch(k, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z),
		C.uint(block.x), C.uint(block.y), C.uint(block.z), C.uint(smem),
		unsafe.Pointer(d.stream.C()), (*unsafe.Pointer)(args))
	return cuErr(r, "cuLaunchKernel")
}

func (d *cudaDriver) memAlloc(n int64) (devPtr, error) {
	p, err := cu.MemAlloc(n)
	return devPtr(p), err
}

func (d *cudaDriver) memFree(p devPtr) { cu.MemFree(cu.DevicePtr(p)) }

func (d *cudaDriver) memset(p devPtr, v uint32, width int, n int64) error {
	switch width {
	case 1:
		return cu.MemsetD8Async(cu.DevicePtr(p), byte(v), n, d.stream)
	case 2:
		return cu.MemsetD16Async(cu.DevicePtr(p), uint16(v), n, d.stream)
	case 4:
		return cu.MemsetD32Async(cu.DevicePtr(p), uint(v), n, d.stream)
	}
	return fmt.Errorf("memset of %d-byte elements", width)
}

func (d *cudaDriver) copyHtoD(dst devPtr, src unsafe.Pointer, n int64) error {
	return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, n, d.stream)
}

func (d *cudaDriver) copyDtoH(dst unsafe.Pointer, src devPtr, n int64) error {
	return cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), n, d.stream)
}

func (d *cudaDriver) copyDtoD(dst, src devPtr, n int64) error {
	return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), n, d.stream)
}

func (d *cudaDriver) synchronize() error { return d.stream.Synchronize() }

func (d *cudaDriver) hostAlloc(n int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if r := C.sirl_host_alloc(&p, C.size_t(n)); r != 0 {
		return nil, cuErr(r, fmt.Sprintf("cuMemAllocHost(%d)", n))
	}
	return p, nil
}

func (d *cudaDriver) hostFree(p unsafe.Pointer) {
	if p != nil {
		C.sirl_host_free(p)
	}
}

// cudaEvent is a timing-free CUDA event on the driver's stream.
type cudaEvent struct {
	ev     cu.Event
	stream cu.Stream
}

func (d *cudaDriver) newEvent() (event, error) {
	ev, err := cu.MakeEvent(cu.DisableTiming)
	if err != nil {
		return nil, fmt.Errorf("gpu: event: %w", err)
	}
	return &cudaEvent{ev: ev, stream: d.stream}, nil
}

func (e *cudaEvent) record() error      { return e.ev.Record(e.stream) }
func (e *cudaEvent) synchronize() error { return e.ev.Synchronize() }
func (e *cudaEvent) destroy()           { cu.DestroyEvent(&e.ev) }

func (d *cudaDriver) openBLAS() (string, error) {
	b, err := openBLAS(d.stream)
	if err != nil {
		return "", err
	}
	d.blas = b
	return b.name, nil
}

func (d *cudaDriver) gemm(g colGemm) error {
	if d.blas == nil {
		return fmt.Errorf("cuBLAS is not open")
	}
	return d.blas.gemm(g)
}

func (d *cudaDriver) close() {
	if d.stream != (cu.Stream{}) {
		d.stream.Synchronize()
	}
	if d.blas != nil {
		d.blas.close()
		d.blas = nil
	}
	for _, m := range d.mods {
		C.sirl_module_unload(m)
	}
	d.mods = nil
	if d.stream != (cu.Stream{}) {
		d.stream.Destroy()
		d.stream = cu.Stream{}
	}
	if d.ctx != (cu.CUContext{}) {
		d.dev.ReleasePrimaryCtx()
		d.ctx = cu.CUContext{}
	}
}
