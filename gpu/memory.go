//go:build cuda || cudaemu

package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/sirl-dev/sirl/backend"
)

// stagingBytes is the size of each of the two pinned staging buffers.
const stagingBytes = 8 << 20

// pinned is a staging buffer of host memory from the driver.
type pinned struct {
	p    unsafe.Pointer
	size int
}

// bytes views the buffer as a byte slice.
func (p pinned) bytes() []byte { return unsafe.Slice((*byte)(p.p), p.size) }

// pool is one device allocation sub-allocated in Go.
type pool struct {
	name      backend.Pool
	base      devPtr
	capacity  int64
	alloc     allocator
	highWater int64
	gen       uint64 // bumped by ResetPool: older tensors are stale
}

// Tensor is the CUDA engine's tensor: a range of one pool.
type Tensor struct {
	shape []int
	dt    backend.DType
	pool  *pool
	ptr   devPtr
	off   int64
	bytes int64
	n     int
	gen   uint64
	freed bool
	eng   *Engine
}

// Shape returns a copy of the shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// DType is the element type.
func (t *Tensor) DType() backend.DType { return t.dt }

// Pool is the pool the tensor came from.
func (t *Tensor) Pool() backend.Pool {
	if t.pool == nil {
		return ""
	}
	return t.pool.name
}

// Len is the number of elements.
func (t *Tensor) Len() int { return t.n }

// Ptr is the device address (for benchmarks and interop).
func (t *Tensor) Ptr() uintptr { return uintptr(t.ptr) }

// Alloc returns a zeroed tensor from pool p. Failure (unknown pool, out of
// memory, bad shape) sets the sticky error and returns an unusable tensor.
func (e *Engine) Alloc(p backend.Pool, dt backend.DType, shape ...int) backend.Tensor {
	t := &Tensor{shape: append([]int(nil), shape...), dt: dt, freed: true, eng: e}
	e.run("Alloc", func() error {
		if dt != backend.F32 && dt != backend.BF16 && dt != backend.I32 {
			return fmt.Errorf("unknown dtype %v", dt)
		}
		for _, s := range shape {
			if s < 0 {
				return fmt.Errorf("negative dimension in shape %v", shape)
			}
		}
		pl, ok := e.pools[p]
		if !ok {
			return fmt.Errorf("unknown pool %q", p)
		}
		t.pool, t.n = pl, backend.Numel(shape)
		t.bytes = int64(t.n) * int64(dt.Size())
		if t.bytes > 0 {
			off, err := pl.alloc.alloc(t.bytes)
			if err != nil {
				return fmt.Errorf("pool %s: %w", p, err)
			}
			t.off, t.ptr = off, pl.base+devPtr(off)
			pl.highWater = max(pl.highWater, pl.alloc.inUse())
			if err := e.exec(func() error { return e.drv.memset(t.ptr, 0, 1, t.bytes) }); err != nil {
				return err
			}
		}
		t.gen, t.freed = pl.gen, false
		return nil
	})
	return t
}

// Free returns t to its pool. Freeing twice, or after ResetPool, is an error.
func (e *Engine) Free(x backend.Tensor) {
	e.run("Free", func() error {
		t, err := e.get(x, "tensor")
		if err != nil {
			return err
		}
		if t.bytes > 0 {
			t.pool.alloc.free(t.off, t.bytes)
		}
		t.freed = true
		return nil
	})
}

// ResetPool frees every tensor of pool p at once; using them later is an
// error.
func (e *Engine) ResetPool(p backend.Pool) {
	e.run("ResetPool", func() error {
		pl, ok := e.pools[p]
		if !ok {
			return fmt.Errorf("unknown pool %q", p)
		}
		pl.alloc.reset()
		pl.gen++
		return nil
	})
}

// PoolStats reports every pool: backend.Pools first, then the others
// (scratch). Capacity is the bytes taken at start.
func (e *Engine) PoolStats() []backend.PoolStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.pools))
	for p := range e.pools {
		names = append(names, string(p))
	}
	order := map[backend.Pool]int{}
	for i, p := range backend.Pools {
		order[p] = i - len(backend.Pools)
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := order[backend.Pool(names[i])], order[backend.Pool(names[j])]
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	out := make([]backend.PoolStats, 0, len(names))
	for _, n := range names {
		pl := e.pools[backend.Pool(n)]
		out = append(out, backend.PoolStats{Pool: pl.name, Capacity: pl.capacity, InUse: pl.alloc.inUse(), HighWater: pl.highWater})
	}
	return out
}

// get checks that x is a live tensor of this engine.
func (e *Engine) get(x backend.Tensor, what string) (*Tensor, error) {
	if x == nil {
		return nil, fmt.Errorf("%s is nil", what)
	}
	t, ok := x.(*Tensor)
	if !ok || t.eng != e {
		return nil, fmt.Errorf("%s is not a tensor of this CUDA engine (%T)", what, x)
	}
	if t.pool == nil {
		return nil, fmt.Errorf("%s comes from a failed Alloc", what)
	}
	if t.gen != t.pool.gen {
		return nil, fmt.Errorf("%s was freed by ResetPool(%s)", what, t.pool.name)
	}
	if t.freed {
		return nil, fmt.Errorf("%s was freed", what)
	}
	return t, nil
}

// getFloat is get for an fp32 or bf16 tensor, optionally of n elements (n < 0: any).
func (e *Engine) getFloat(x backend.Tensor, what string, n int) (*Tensor, error) {
	t, err := e.get(x, what)
	if err != nil {
		return nil, err
	}
	if t.dt == backend.I32 {
		return nil, fmt.Errorf("%s must be fp32 or bf16, not i32", what)
	}
	if n >= 0 && t.n != n {
		return nil, fmt.Errorf("%s %v has %d elements, want %d", what, t.shape, t.n, n)
	}
	return t, nil
}

// getDT is get with an exact dtype and element count (n < 0: any).
func (e *Engine) getDT(x backend.Tensor, what string, dt backend.DType, n int) (*Tensor, error) {
	t, err := e.get(x, what)
	if err != nil {
		return nil, err
	}
	if t.dt != dt {
		return nil, fmt.Errorf("%s must be %v, not %v", what, dt, t.dt)
	}
	if n >= 0 && t.n != n {
		return nil, fmt.Errorf("%s %v has %d elements, want %d", what, t.shape, t.n, n)
	}
	return t, nil
}

// bf16Bits rounds a float32 to bfloat16 bits (nearest even), as the CPU
// engine does.
func bf16Bits(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// toDevice copies nbytes to dst through the pinned buffers; fill writes
// bytes [off, off+len(buf)) of the source into buf. CUDA goroutine only.
func (e *Engine) toDevice(dst devPtr, nbytes int, fill func(buf []byte, off int)) error {
	for off := 0; off < nbytes; off += stagingBytes {
		n := min(stagingBytes, nbytes-off)
		s := e.pinNext
		e.pinNext ^= 1
		if e.pinUsed[s] {
			if err := e.pinEv[s].synchronize(); err != nil {
				return err
			}
		}
		buf := e.pin[s].bytes()[:n]
		fill(buf, off)
		if err := e.drv.copyHtoD(dst+devPtr(off), e.pin[s].p, int64(n)); err != nil {
			return err
		}
		if err := e.pinEv[s].record(); err != nil {
			return err
		}
		e.pinUsed[s] = true
	}
	return nil
}

// toHost copies nbytes from src and hands each chunk to take. It waits for
// the stream. CUDA goroutine only.
func (e *Engine) toHost(src devPtr, nbytes int, take func(buf []byte, off int)) error {
	for off := 0; off < nbytes; off += stagingBytes {
		n := min(stagingBytes, nbytes-off)
		if err := e.drv.copyDtoH(e.pin[0].p, src+devPtr(off), int64(n)); err != nil {
			return err
		}
		if err := e.drv.synchronize(); err != nil {
			return err
		}
		e.pinUsed = [2]bool{}
		take(e.pin[0].bytes()[:n], off)
	}
	return nil
}

// Upload copies src into the float tensor dst, rounding for bf16.
func (e *Engine) Upload(dst backend.Tensor, src []float32) {
	e.run("Upload", func() error {
		t, err := e.getFloat(dst, "dst", len(src))
		if err != nil {
			return err
		}
		return e.exec(func() error {
			if t.dt == backend.BF16 {
				return e.toDevice(t.ptr, int(t.bytes), func(buf []byte, off int) {
					for i := 0; i < len(buf)/2; i++ {
						binary.LittleEndian.PutUint16(buf[2*i:], bf16Bits(src[off/2+i]))
					}
				})
			}
			return e.toDevice(t.ptr, int(t.bytes), func(buf []byte, off int) {
				for i := 0; i < len(buf)/4; i++ {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(src[off/4+i]))
				}
			})
		})
	})
}

// UploadI32 copies src into the I32 tensor dst.
func (e *Engine) UploadI32(dst backend.Tensor, src []int32) {
	e.run("UploadI32", func() error {
		t, err := e.getDT(dst, "dst", backend.I32, len(src))
		if err != nil {
			return err
		}
		return e.exec(func() error {
			return e.toDevice(t.ptr, int(t.bytes), func(buf []byte, off int) {
				for i := 0; i < len(buf)/4; i++ {
					binary.LittleEndian.PutUint32(buf[4*i:], uint32(src[off/4+i]))
				}
			})
		})
	})
}

// Download waits for the queue and copies the float tensor src into dst.
func (e *Engine) Download(src backend.Tensor, dst []float32) {
	e.run("Download", func() error {
		t, err := e.getFloat(src, "src", len(dst))
		if err != nil {
			return err
		}
		return e.exec(func() error {
			return e.toHost(t.ptr, int(t.bytes), func(buf []byte, off int) {
				if t.dt == backend.BF16 {
					for i := 0; i < len(buf)/2; i++ {
						dst[off/2+i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[2*i:])) << 16)
					}
					return
				}
				for i := 0; i < len(buf)/4; i++ {
					dst[off/4+i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
				}
			})
		})
	})
}

// DownloadI32 waits for the queue and copies the I32 tensor src into dst.
func (e *Engine) DownloadI32(src backend.Tensor, dst []int32) {
	e.run("DownloadI32", func() error {
		t, err := e.getDT(src, "src", backend.I32, len(dst))
		if err != nil {
			return err
		}
		return e.exec(func() error {
			return e.toHost(t.ptr, int(t.bytes), func(buf []byte, off int) {
				for i := 0; i < len(buf)/4; i++ {
					dst[off/4+i] = int32(binary.LittleEndian.Uint32(buf[4*i:]))
				}
			})
		})
	})
}

// Copy copies src into dst: same element count, both float (converting
// fp32 ↔ bf16) or both i32.
func (e *Engine) Copy(dst, src backend.Tensor) {
	e.run("Copy", func() error {
		d, err := e.get(dst, "dst")
		if err != nil {
			return err
		}
		s, err := e.get(src, "src")
		if err != nil {
			return err
		}
		if d.n != s.n {
			return fmt.Errorf("dst %v and src %v differ in element count", d.shape, s.shape)
		}
		if (d.dt == backend.I32) != (s.dt == backend.I32) {
			return fmt.Errorf("cannot copy %v into %v", s.dt, d.dt)
		}
		return e.exec(func() error { return e.copyRange(d, 0, s, 0, int64(d.n)) })
	})
}

// CopyRange copies n elements src[srcOff:] → dst[dstOff:] (same dtype).
func (e *Engine) CopyRange(dst backend.Tensor, dstOff int, src backend.Tensor, srcOff, n int) {
	e.run("CopyRange", func() error {
		d, err := e.get(dst, "dst")
		if err != nil {
			return err
		}
		s, err := e.get(src, "src")
		if err != nil {
			return err
		}
		if d.dt != s.dt {
			return fmt.Errorf("dtypes differ: dst %v, src %v", d.dt, s.dt)
		}
		if n < 0 || dstOff < 0 || srcOff < 0 || dstOff+n > d.n || srcOff+n > s.n {
			return fmt.Errorf("range [%d,+%d) of src (%d) into [%d,+%d) of dst (%d) is out of bounds",
				srcOff, n, s.n, dstOff, n, d.n)
		}
		return e.exec(func() error { return e.copyRange(d, int64(dstOff), s, int64(srcOff), int64(n)) })
	})
}

// copyRange copies on the stream, converting dtypes with a kernel when they
// differ. CUDA goroutine only.
func (e *Engine) copyRange(d *Tensor, dOff int64, s *Tensor, sOff, n int64) error {
	if n == 0 {
		return nil
	}
	if d.dt == s.dt {
		sz := int64(d.dt.Size())
		return e.drv.copyDtoD(d.ptr+devPtr(dOff*sz), s.ptr+devPtr(sOff*sz), n*sz)
	}
	return e.launch("copy_range", e.gridFor(n), dim3{256, 1, 1}, 0,
		d.ptr, int(d.dt), dOff, s.ptr, int(s.dt), sOff, n)
}

// Fill sets every element of t to v (truncated for i32).
func (e *Engine) Fill(x backend.Tensor, v float32) {
	e.run("Fill", func() error {
		t, err := e.get(x, "tensor")
		if err != nil {
			return err
		}
		if t.n == 0 {
			return nil
		}
		return e.exec(func() error {
			switch t.dt {
			case backend.BF16:
				return e.drv.memset(t.ptr, uint32(bf16Bits(v)), 2, int64(t.n))
			case backend.I32:
				if math.IsNaN(float64(v)) || math.Abs(float64(v)) >= 1<<31 {
					return errors.New("fill value does not fit int32")
				}
				return e.drv.memset(t.ptr, uint32(int32(v)), 4, int64(t.n))
			}
			return e.drv.memset(t.ptr, math.Float32bits(v), 4, int64(t.n))
		})
	})
}

// scratchAlloc takes n bytes of the scratch pool for the current op; the op
// releases them with e.scratch.release(mark) (stream order makes the reuse
// by the next op safe).
func (e *Engine) scratchAlloc(n int64) (devPtr, error) {
	off, err := e.scratch.alloc(max(n, 1))
	if err != nil {
		return 0, fmt.Errorf("scratch pool: %w (raise PoolPlan[gpu.Scratch])", err)
	}
	pl := e.pools[Scratch]
	pl.highWater = max(pl.highWater, e.scratch.inUse())
	return pl.base + devPtr(off), nil
}
