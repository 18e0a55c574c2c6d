//go:build cudaemu

package gpu

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Device memory of the emulator is host memory: addresses arrive as
// integers and are cast here, so the Go side never converts an integer
// into a pointer.
static void sirl_emu_copy(uintptr_t dst, uintptr_t src, size_t n) { memmove((void*)dst, (const void*)src, n); }
static void sirl_emu_set(uintptr_t p, uint32_t v, int width, size_t n) {
	switch (width) {
	case 1: memset((void*)p, (int)(v & 0xff), n); break;
	case 2: { uint16_t* q = (uint16_t*)p; for (size_t i = 0; i < n; i++) q[i] = (uint16_t)v; break; }
	case 4: { uint32_t* q = (uint32_t*)p; for (size_t i = 0; i < n; i++) q[i] = v; break; }
	}
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/gpu/emu"
	"github.com/sirl-dev/sirl/kernels"
)

// kernelRef is a kernel of the emulator's module.
type kernelRef = *emu.Kernel

// The emulated device looks like an H100 to the engine, so that the launch
// shapes, the tensor-core paths and the pool plan checks are the ones a real
// H100 takes.
const (
	emuSMs       = 132
	emuMaxSmem   = 227 << 10
	emuMemory    = int64(80) << 30
	emuOrderEnv  = "SIRL_EMU_ORDER"
	emuDescribed = "emulated CUDA (CPU), not a GPU"
)

// Emulated reports whether New opens the CUDA emulator: yes in this build.
// The CLI's device "auto" uses it to never pick the emulator.
func Emulated() bool { return true }

// Available is true in the cudaemu build: `--device cuda` opens the
// emulated engine (the CLI's `auto` does not pick it; see README "GPU").
func Available() bool { return true }

// emuDriver is the driver over package gpu/emu: device memory is host
// memory of the emulator, copies and memsets are done here on it (each
// checked to lie inside one live allocation), the stream and events are
// synchronous, kernels are the unchanged kernels/*.cu compiled by the host
// compiler and launched with the engine's own parameter array, and GEMMs go
// to the emulator's reference cublasGemmStridedBatchedEx.
//
// $SIRL_EMU_ORDER picks the order in which each block's threads run:
// "forward" (default) or "reverse" (a missing barrier then shows).
type emuDriver struct {
	dev *emu.Device
	mod *emu.Module
	di  deviceInfo
}

// openDriver opens the emulator in the thread order of $SIRL_EMU_ORDER.
func openDriver() (driver, error) {
	var reverse bool
	switch o := os.Getenv(emuOrderEnv); o {
	case "", "forward":
	case "reverse":
		reverse = true
	default:
		return nil, fmt.Errorf("gpu: %s=%q: want forward or reverse", emuOrderEnv, o)
	}
	// The pools are poisoned here with one C memset (the emulator's own
	// poisoning loops over bytes in Go: seconds per GiB).
	dev, err := emu.Open(emu.Options{Reverse: reverse, NoPoison: true})
	if err != nil {
		return nil, fmt.Errorf("gpu: emulator: %w", err)
	}
	return &emuDriver{dev: dev, di: deviceInfo{
		name: emuDescribed + ": " + dev.Describe(),
		cc:   [2]int{9, 0}, sms: emuSMs, maxSmem: emuMaxSmem, free: emuMemory, total: emuMemory,
	}}, nil
}

func (d *emuDriver) info() deviceInfo { return d.di }

// loadKernels compiles every kernel file with the host compiler (cached).
func (d *emuDriver) loadKernels() (string, error) {
	units, headers := map[string]string{}, kernels.Headers()
	for n, s := range kernels.Sources() {
		if strings.HasSuffix(n, ".cu") {
			units[n] = s
		}
	}
	m, err := d.dev.Load(units, headers)
	if err != nil {
		return "", fmt.Errorf("gpu: emulator: compile kernels: %w", err)
	}
	d.mod = m
	return fmt.Sprintf("%d entry points of %d files compiled for the emulator", len(m.Names()), len(units)), nil
}

func (d *emuDriver) function(name string) (kernelRef, error) { return d.mod.Kernel(name) }

func (d *emuDriver) setMaxDynamicShared(k kernelRef, bytes int) error {
	return k.SetMaxDynamicShared(bytes)
}

func (d *emuDriver) launch(k kernelRef, grid, block dim3, smem int, args unsafe.Pointer) error {
	return d.dev.Launch(k, [3]int{grid.x, grid.y, grid.z}, [3]int{block.x, block.y, block.z}, smem, args)
}

// memAlloc takes n bytes poisoned with 0xFF (NaN as fp32 and bf16), like
// the uninitialised memory of cuMemAlloc: a read outside every tensor shows.
func (d *emuDriver) memAlloc(n int64) (devPtr, error) {
	p, err := d.dev.Alloc(n)
	if err != nil {
		return 0, err
	}
	C.sirl_emu_set(C.uintptr_t(p), 0xFF, 1, C.size_t(n))
	return devPtr(p), nil
}

func (d *emuDriver) memFree(p devPtr) { d.dev.Free(uintptr(p)) }

// check fails unless [p, p+n) lies inside one live allocation.
func (d *emuDriver) check(what string, p devPtr, n int64) error {
	if n > 0 && !d.dev.Valid(uintptr(p), n) {
		return fmt.Errorf("%s: [%#x, +%d bytes) is outside every device allocation", what, uintptr(p), n)
	}
	return nil
}

func (d *emuDriver) memset(p devPtr, v uint32, width int, n int64) error {
	if width != 1 && width != 2 && width != 4 {
		return fmt.Errorf("memset of %d-byte elements", width)
	}
	if err := d.check(fmt.Sprintf("cuMemsetD%d", 8*width), p, n*int64(width)); err != nil {
		return err
	}
	C.sirl_emu_set(C.uintptr_t(p), C.uint32_t(v), C.int(width), C.size_t(n))
	return nil
}

func (d *emuDriver) copyHtoD(dst devPtr, src unsafe.Pointer, n int64) error {
	if err := d.check("cuMemcpyHtoD", dst, n); err != nil {
		return err
	}
	C.sirl_emu_copy(C.uintptr_t(dst), C.uintptr_t(uintptr(src)), C.size_t(n))
	return nil
}

func (d *emuDriver) copyDtoH(dst unsafe.Pointer, src devPtr, n int64) error {
	if err := d.check("cuMemcpyDtoH", src, n); err != nil {
		return err
	}
	C.sirl_emu_copy(C.uintptr_t(uintptr(dst)), C.uintptr_t(src), C.size_t(n))
	return nil
}

func (d *emuDriver) copyDtoD(dst, src devPtr, n int64) error {
	if err := d.check("cuMemcpyDtoD destination", dst, n); err != nil {
		return err
	}
	if err := d.check("cuMemcpyDtoD source", src, n); err != nil {
		return err
	}
	C.sirl_emu_copy(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(n))
	return nil
}

// synchronize has nothing to wait for: every call ran to completion.
func (d *emuDriver) synchronize() error { return nil }

func (d *emuDriver) hostAlloc(n int) (unsafe.Pointer, error) {
	p := C.malloc(C.size_t(n))
	if p == nil {
		return nil, fmt.Errorf("malloc(%d) for a staging buffer failed", n)
	}
	return p, nil
}

func (d *emuDriver) hostFree(p unsafe.Pointer) { C.free(p) }

// emuEvent is an event of a synchronous stream: always complete.
type emuEvent struct{}

func (d *emuDriver) newEvent() (event, error) { return emuEvent{}, nil }
func (emuEvent) record() error                { return nil }
func (emuEvent) synchronize() error           { return nil }
func (emuEvent) destroy()                     {}

func (d *emuDriver) openBLAS() (string, error) {
	return "emulated (reference column-major cublasGemmStridedBatchedEx)", nil
}

func (d *emuDriver) gemm(g colGemm) error {
	return d.dev.GemmStridedBatched(emu.Gemm{
		TransA: g.transA, TransB: g.transB, M: g.m, N: g.n, K: g.k, Alpha: g.alpha, Beta: g.beta,
		A: uintptr(g.a), B: uintptr(g.b), C: uintptr(g.c),
		AType: emu.DType(g.at), BType: emu.DType(g.bt), CType: emu.DType(g.ct),
		LDA: g.lda, LDB: g.ldb, LDC: g.ldc, StrideA: g.sa, StrideB: g.sb, StrideC: g.sc, Batch: g.batch,
	})
}

func (d *emuDriver) close() {
	d.dev.Close()
	d.dev, d.mod = nil, nil
}

// KernelCoverage reports, for an engine of this build, every kernel entry
// point of the loaded module (sorted) and the launches per kernel since the
// engine opened. It is for tests: which kernels has a workload executed.
func KernelCoverage(b backend.Backend) (names []string, launches map[string]int, err error) {
	e, ok := b.(*Engine)
	if !ok {
		return nil, nil, fmt.Errorf("gpu: %T is not the CUDA engine", b)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err = e.exec(func() error {
		d, ok := e.drv.(*emuDriver)
		if !ok || d.mod == nil {
			return errors.New("gpu: the engine has no emulated module")
		}
		names, launches = d.mod.Names(), d.dev.Launches()
		return nil
	})
	return names, launches, err
}
