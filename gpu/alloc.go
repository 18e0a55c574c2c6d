package gpu

import (
	"fmt"
	"sort"
)

// align is the alignment of every sub-allocation (bytes): enough for the
// 16-byte vector loads of the kernels and cuBLAS's preferences.
const align = 256

// alignUp rounds n up to a multiple of align.
func alignUp(n int64) int64 { return (n + align - 1) / align * align }

// allocator hands out byte ranges [off, off+size) of one pool. It knows
// nothing of devices, so it is tested without a GPU.
type allocator interface {
	alloc(size int64) (off int64, err error)
	free(off, size int64)
	reset()
	inUse() int64
}

// arena is a bump allocator: alloc takes from the top, free of the most
// recent allocation gives it back (stack order), other frees wait for reset.
type arena struct {
	capacity, top, used int64
	stack               []span
}

// span is one allocation of an arena.
type span struct{ off, size int64 }

func newArena(capacity int64) *arena { return &arena{capacity: capacity} }

func (a *arena) alloc(size int64) (int64, error) {
	size = alignUp(size)
	if a.top+size > a.capacity {
		return 0, fmt.Errorf("out of memory: %d bytes wanted, %d of %d free", size, a.capacity-a.top, a.capacity)
	}
	off := a.top
	a.top += size
	a.used += size
	a.stack = append(a.stack, span{off, size})
	return off, nil
}

func (a *arena) free(off, size int64) {
	size = alignUp(size)
	for i := len(a.stack) - 1; i >= 0; i-- {
		if a.stack[i].off == off {
			a.stack[i].size = -a.stack[i].size // mark freed
			a.used -= size
			break
		}
	}
	// pop freed spans from the top
	for len(a.stack) > 0 && a.stack[len(a.stack)-1].size < 0 {
		a.top = a.stack[len(a.stack)-1].off
		a.stack = a.stack[:len(a.stack)-1]
	}
}

func (a *arena) reset() { a.top, a.used, a.stack = 0, 0, a.stack[:0] }

func (a *arena) inUse() int64 { return a.used }

// mark and release bracket the temporaries of one op: release frees
// everything allocated after mark.
func (a *arena) mark() int { return len(a.stack) }

func (a *arena) release(m int) {
	for len(a.stack) > m {
		s := a.stack[len(a.stack)-1]
		if s.size > 0 {
			a.used -= s.size
		}
		a.top = s.off
		a.stack = a.stack[:len(a.stack)-1]
	}
}

// freeList is a first-fit allocator over sorted free ranges, coalescing
// neighbours on free.
type freeList struct {
	capacity, used int64
	holes          []span // sorted by off, non-adjacent
}

func newFreeList(capacity int64) *freeList {
	f := &freeList{capacity: capacity}
	f.reset()
	return f
}

func (f *freeList) alloc(size int64) (int64, error) {
	size = alignUp(size)
	for i, h := range f.holes {
		if h.size < size {
			continue
		}
		off := h.off
		if h.size == size {
			f.holes = append(f.holes[:i], f.holes[i+1:]...)
		} else {
			f.holes[i] = span{h.off + size, h.size - size}
		}
		f.used += size
		return off, nil
	}
	var largest int64
	for _, h := range f.holes {
		largest = max(largest, h.size)
	}
	return 0, fmt.Errorf("out of memory: %d bytes wanted, %d free of %d (largest hole %d)",
		size, f.capacity-f.used, f.capacity, largest)
}

func (f *freeList) free(off, size int64) {
	size = alignUp(size)
	f.used -= size
	i := sort.Search(len(f.holes), func(i int) bool { return f.holes[i].off > off })
	f.holes = append(f.holes, span{})
	copy(f.holes[i+1:], f.holes[i:])
	f.holes[i] = span{off, size}
	// merge with the next, then with the previous
	if i+1 < len(f.holes) && f.holes[i].off+f.holes[i].size == f.holes[i+1].off {
		f.holes[i].size += f.holes[i+1].size
		f.holes = append(f.holes[:i+1], f.holes[i+2:]...)
	}
	if i > 0 && f.holes[i-1].off+f.holes[i-1].size == f.holes[i].off {
		f.holes[i-1].size += f.holes[i].size
		f.holes = append(f.holes[:i], f.holes[i+1:]...)
	}
}

func (f *freeList) reset() {
	f.used = 0
	f.holes = f.holes[:0]
	if f.capacity > 0 {
		f.holes = append(f.holes, span{0, f.capacity})
	}
}

func (f *freeList) inUse() int64 { return f.used }
