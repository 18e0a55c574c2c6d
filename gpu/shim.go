//go:build cuda

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
	"math"
	"unsafe"

	"gorgonia.org/cu"
)

// cuErr turns a CUresult into an error naming what failed.
func cuErr(r C.int, what string) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (CUresult %d)", what, C.GoString(C.sirl_error_string(r)), int(r))
}

// module is a loaded CUBIN.
type module struct{ m C.CUmodule }

// loadModule loads a CUBIN or PTX image into the current context.
func loadModule(image []byte) (module, error) {
	buf := C.CBytes(append(image[:len(image):len(image)], 0))
	defer C.free(buf)
	var m module
	err := cuErr(C.sirl_module_load(&m.m, buf), "cuModuleLoadData")
	return m, err
}

func (m module) unload() { C.sirl_module_unload(m.m) }

// kfunc is a kernel entry point with the dynamic shared memory it may use.
type kfunc struct {
	f       C.CUfunction
	name    string
	maxSmem int
}

// function looks up an extern "C" kernel by name.
func (m module) function(name string) (*kfunc, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	k := &kfunc{name: name, maxSmem: 48 << 10}
	if r := C.sirl_module_function(&k.f, m.m, cn); r != 0 {
		return nil, cuErr(r, "cuModuleGetFunction "+name)
	}
	return k, nil
}

// launcher packs kernel parameters with their exact sizes into C memory
// (the driver copies them at launch, so one buffer serves every launch).
// It is used only on the CUDA goroutine.
type launcher struct {
	vals unsafe.Pointer // 4 KiB of parameter values
	ptrs unsafe.Pointer // 64 pointers into vals
}

const (
	launchBytes = 4096
	launchArgs  = 64
)

func newLauncher() *launcher {
	return &launcher{vals: C.malloc(launchBytes), ptrs: C.malloc(launchArgs * C.size_t(unsafe.Sizeof(uintptr(0))))}
}

func (l *launcher) close() {
	C.free(l.vals)
	C.free(l.ptrs)
}

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z int }

// launch runs k on stream. Parameters: cu.DevicePtr, uintptr, int64 and
// float64 take 8 bytes; int, int32, float32 and bool (as int32) take 4 —
// so a kernel's `int` gets a Go int and its `long long` an int64.
func (l *launcher) launch(k *kfunc, grid, block dim3, smem int, stream cu.Stream, args ...any) error {
	if len(args) > launchArgs {
		return fmt.Errorf("launch %s: %d parameters, at most %d", k.name, len(args), launchArgs)
	}
	if smem > k.maxSmem {
		if r := C.sirl_func_max_dyn_smem(k.f, C.int(smem)); r != 0 {
			return cuErr(r, fmt.Sprintf("cuFuncSetAttribute(%s, %d bytes of shared memory)", k.name, smem))
		}
		k.maxSmem = smem
	}
	vals := unsafe.Slice((*byte)(l.vals), launchBytes)
	ptrs := unsafe.Slice((*unsafe.Pointer)(l.ptrs), launchArgs)
	off := 0
	put := func(i, size int, bits uint64) {
		off = (off + size - 1) / size * size
		p := unsafe.Pointer(&vals[off])
		if size == 8 {
			*(*uint64)(p) = bits
		} else {
			*(*uint32)(p) = uint32(bits)
		}
		ptrs[i] = p
		off += size
	}
	for i, a := range args {
		if off+16 > launchBytes {
			return fmt.Errorf("launch %s: parameters exceed %d bytes", k.name, launchBytes)
		}
		switch v := a.(type) {
		case cu.DevicePtr:
			put(i, 8, uint64(v))
		case uintptr:
			put(i, 8, uint64(v))
		case int64:
			put(i, 8, uint64(v))
		case float64:
			put(i, 8, math.Float64bits(v))
		case int:
			if v != int(int32(v)) {
				return fmt.Errorf("launch %s: parameter %d = %d overflows int32", k.name, i, v)
			}
			put(i, 4, uint64(uint32(int32(v))))
		case int32:
			put(i, 4, uint64(uint32(v)))
		case float32:
			put(i, 4, uint64(math.Float32bits(v)))
		case bool:
			b := uint64(0)
			if v {
				b = 1
			}
			put(i, 4, b)
		default:
			return fmt.Errorf("launch %s: parameter %d has unsupported type %T", k.name, i, a)
		}
	}
	r := C.sirl_launch(k.f, C.uint(grid.x), C.uint(max(grid.y, 1)), C.uint(max(grid.z, 1)),
		C.uint(block.x), C.uint(max(block.y, 1)), C.uint(max(block.z, 1)), C.uint(smem),
		unsafe.Pointer(stream.C()), (*unsafe.Pointer)(l.ptrs))
	return cuErr(r, "cuLaunchKernel "+k.name)
}

// pinned is page-locked host memory (cuMemAllocHost).
type pinned struct {
	p    unsafe.Pointer
	size int
}

func allocPinned(size int) (pinned, error) {
	var p unsafe.Pointer
	if r := C.sirl_host_alloc(&p, C.size_t(size)); r != 0 {
		return pinned{}, cuErr(r, fmt.Sprintf("cuMemAllocHost(%d)", size))
	}
	return pinned{p: p, size: size}, nil
}

func (p pinned) free() {
	if p.p != nil {
		C.sirl_host_free(p.p)
	}
}

// bytes views the pinned memory as a byte slice.
func (p pinned) bytes() []byte { return unsafe.Slice((*byte)(p.p), p.size) }

// maxSharedOptin is the most dynamic shared memory a block may opt in to.
func maxSharedOptin(dev cu.Device) int {
	var v C.int
	if C.sirl_device_attr(&v, C.sirl_max_optin_smem(), C.int(dev)) != 0 {
		return 48 << 10
	}
	return int(v)
}
