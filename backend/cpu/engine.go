// Package cpu is the pure-Go engine of backend.Backend: float32 compute on
// gorgonia.org/tensor host storage, goroutine-parallel over row blocks, and
// the numerical reference every GPU kernel is tested against.
//
// Every op runs synchronously when called. Results never depend on the
// number of threads: work is split only over independent outputs (rows,
// columns or tiles), and every reduction runs in one fixed order.
package cpu

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/sirl-dev/sirl/backend"
)

// minParallelWork is the amount of work (roughly multiply-adds) below which
// an op runs on the calling goroutine: fanning out costs a few microseconds.
const minParallelWork = 1 << 15

// Engine is the CPU implementation of backend.Backend.
type Engine struct {
	threads int
	kern    gemmKernel
	work    sync.Pool // *gemmWork packing space
	scratch sync.Pool // *[]float32 op scratch

	mu    sync.Mutex
	err   error
	pools map[backend.Pool]*poolState
}

// poolState is the bookkeeping of one memory pool.
type poolState struct {
	inUse, high int64
	live        map[*Tensor]struct{}
}

var _ backend.Backend = (*Engine)(nil)

// New returns an engine that uses up to threads goroutines per op
// (threads <= 0 means runtime.GOMAXPROCS(0)).
func New(threads int) *Engine {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Engine{
		threads: threads,
		kern:    bestKernel(),
		pools:   map[backend.Pool]*poolState{},
	}
}

// Threads is the number of goroutines an op may use.
func (e *Engine) Threads() int { return e.threads }

// Name is "cpu".
func (e *Engine) Name() string { return "cpu" }

// Device describes the engine, e.g. "cpu (2 threads, linux/amd64, avx2 matmul)".
func (e *Engine) Device() string {
	return fmt.Sprintf("cpu (%d threads, %s/%s, %s matmul)", e.threads, runtime.GOOS, runtime.GOARCH, e.kern.name)
}

// Sync returns the sticky error; CPU ops have already finished.
func (e *Engine) Sync() error { return e.Err() }

// Err returns the first failure recorded by any op, or nil.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// failed reports whether the sticky error is set.
func (e *Engine) failed() bool { return e.Err() != nil }

// fail records err as the sticky error unless one is already set.
func (e *Engine) fail(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// opCheck validates the arguments of one op. Its getters return nil after a
// failure; callers test ok() before touching what they returned.
type opCheck struct {
	e   *Engine
	op  string
	err error
}

// begin starts an op; it returns nil when the engine already failed.
func (e *Engine) begin(op string) *opCheck {
	if e.failed() {
		return nil
	}
	return &opCheck{e: e, op: op}
}

// failf records the first argument error of the op.
func (c *opCheck) failf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("cpu: %s: %s", c.op, fmt.Sprintf(format, args...))
	}
}

// ok reports whether every check passed; on failure it sets the sticky error.
func (c *opCheck) ok() bool {
	if c.err != nil {
		c.e.fail(c.err)
		return false
	}
	return true
}

// require records a failure unless cond holds.
func (c *opCheck) require(cond bool, format string, args ...any) {
	if !cond {
		c.failf(format, args...)
	}
}

// tensor resolves a live tensor of this engine.
func (c *opCheck) tensor(t backend.Tensor, name string) *Tensor {
	if c.err != nil {
		return nil
	}
	if t == nil {
		c.failf("%s is nil", name)
		return nil
	}
	ct, ok := t.(*Tensor)
	if !ok || ct == nil || ct.eng != c.e {
		c.failf("%s belongs to another engine", name)
		return nil
	}
	if ct.freed {
		c.failf("%s %v was freed", name, ct.shape)
		return nil
	}
	return ct
}

// float resolves an F32 or BF16 tensor.
func (c *opCheck) float(t backend.Tensor, name string) *Tensor {
	ct := c.tensor(t, name)
	if ct != nil && ct.dt == backend.I32 {
		c.failf("%s must be fp32 or bf16, got i32", name)
		return nil
	}
	return ct
}

// floatN resolves a float tensor with exactly n elements.
func (c *opCheck) floatN(t backend.Tensor, name string, n int) *Tensor {
	ct := c.float(t, name)
	if ct != nil && ct.n != n {
		c.failf("%s %v has %d elements, want %d", name, ct.shape, ct.n, n)
		return nil
	}
	return ct
}

// optFloatN is floatN for an optional tensor: nil passes as nil.
func (c *opCheck) optFloatN(t backend.Tensor, name string, n int) *Tensor {
	if t == nil {
		return nil
	}
	if ct, ok := t.(*Tensor); ok && ct == nil {
		return nil
	}
	return c.floatN(t, name, n)
}

// ints resolves an I32 tensor with exactly n elements (n < 0: any).
func (c *opCheck) ints(t backend.Tensor, name string, n int) *Tensor {
	ct := c.tensor(t, name)
	if ct == nil {
		return nil
	}
	if ct.dt != backend.I32 {
		c.failf("%s must be i32, got %v", name, ct.dt)
		return nil
	}
	if n >= 0 && ct.n != n {
		c.failf("%s %v has %d elements, want %d", name, ct.shape, ct.n, n)
		return nil
	}
	return ct
}

// parallel runs fn over [0, n) in contiguous blocks, one per worker, when
// n·cost reaches minParallelWork, and on the caller otherwise. fn must give
// the same result for every split.
func (e *Engine) parallel(n, cost int, fn func(lo, hi int)) {
	e.parallelAligned(n, cost, 1, fn)
}

// parallelAligned is parallel with block boundaries at multiples of align.
func (e *Engine) parallelAligned(n, cost, align int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := e.threads
	if cost < 1 {
		cost = 1
	}
	if total := n * cost; total < minParallelWork*2 {
		workers = 1
	} else if w := total / minParallelWork; w < workers {
		workers = w
	}
	units := (n + align - 1) / align
	if workers > units {
		workers = units
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo := units * w / workers * align
		hi := units * (w + 1) / workers * align
		if hi > n {
			hi = n
		}
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}

// floats returns a scratch slice of n elements (contents undefined); give it
// back with putFloats.
func (e *Engine) floats(n int) []float32 {
	if p, ok := e.scratch.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

// putFloats returns a scratch slice to the engine.
func (e *Engine) putFloats(x []float32) { e.scratch.Put(&x) }
