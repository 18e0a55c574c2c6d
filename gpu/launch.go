//go:build cuda || cudaemu

package gpu

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// kfunc is a kernel entry point with the dynamic shared memory it has been
// opted in to.
type kfunc struct {
	ref     kernelRef
	name    string
	maxSmem int
}

// launcher packs kernel parameters with their exact sizes into C memory
// (the driver copies them at launch, so one buffer serves every launch).
// It is used only on the CUDA goroutine.
type launcher struct {
	drv  driver
	vals unsafe.Pointer // 4 KiB of parameter values
	ptrs unsafe.Pointer // 64 pointers into vals
}

const (
	launchBytes = 4096
	launchArgs  = 64
)

func newLauncher(drv driver) *launcher {
	return &launcher{drv: drv, vals: C.malloc(launchBytes), ptrs: C.malloc(launchArgs * C.size_t(unsafe.Sizeof(uintptr(0))))}
}

func (l *launcher) close() {
	C.free(l.vals)
	C.free(l.ptrs)
}

// launch runs k. Parameters: devPtr, uintptr, int64 and float64 take 8
// bytes; int, int32, float32 and bool (as int32) take 4 — so a kernel's
// `int` gets a Go int and its `long long` an int64.
func (l *launcher) launch(k *kfunc, grid, block dim3, smem int, args ...any) error {
	if len(args) > launchArgs {
		return fmt.Errorf("launch %s: %d parameters, at most %d", k.name, len(args), launchArgs)
	}
	if smem > k.maxSmem {
		if err := l.drv.setMaxDynamicShared(k.ref, smem); err != nil {
			return fmt.Errorf("launch %s with %d bytes of shared memory: %w", k.name, smem, err)
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
		case devPtr:
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
	grid = dim3{grid.x, max(grid.y, 1), max(grid.z, 1)}
	block = dim3{block.x, max(block.y, 1), max(block.z, 1)}
	if err := l.drv.launch(k.ref, grid, block, smem, l.ptrs); err != nil {
		return fmt.Errorf("launch %s: %w", k.name, err)
	}
	return nil
}
