//go:build cuda || cudaemu

package gpu

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/sirl-dev/sirl/backend"
)

// headroom is device memory left outside the pools for the context, the
// loaded kernels and cuBLAS's workspace.
const headroom int64 = 768 << 20

// Engine is the CUDA implementation of backend.Backend. See the package
// comment for its threading model and memory pools.
type Engine struct {
	mu  sync.Mutex // serialises ops; guards err and the pools
	err error      // the sticky error

	work   chan func() error // closures for the CUDA goroutine
	done   chan error
	closed bool

	// Used only on the CUDA goroutine after New.
	drv     driver
	lau     *launcher
	blas    bool // false: matmul uses the gemm_simt kernel
	funcs   map[string]*kfunc
	pin     [2]pinned
	pinEv   [2]event
	pinUsed [2]bool
	pinNext int

	sms     int // multiprocessors
	maxSmem int // opt-in dynamic shared memory per block
	pools   map[backend.Pool]*pool
	scratch *arena
	desc    string
}

// New opens device $SIRL_CUDA_DEVICE (default 0), takes the pools of plan
// (plus the scratch pool) with one cuMemAlloc each, compiles or loads the
// kernels and opens cuBLAS. It fails before any allocation, with the
// numbers, when the plan exceeds the free device memory.
func New(plan PoolPlan) (backend.Backend, error) {
	for p, b := range plan {
		if b < 0 {
			return nil, fmt.Errorf("gpu: pool %q has negative size %d", p, b)
		}
	}
	e := &Engine{work: make(chan func() error), done: make(chan error), funcs: map[string]*kfunc{}}
	go e.loop()
	ok := false
	defer func() {
		if !ok {
			e.shutdown()
		}
	}()
	if err := e.exec(func() error { return e.openDevice(plan) }); err != nil {
		return nil, err
	}
	var info, blasName string
	if err := e.exec(func() error { return e.setup(plan, &info, &blasName) }); err != nil {
		return nil, err
	}
	e.desc += fmt.Sprintf("; kernels %s; cuBLAS %s", info, blasName)
	ok = true
	return e, nil
}

// loop is the CUDA goroutine: locked to its OS thread for its lifetime.
func (e *Engine) loop() {
	runtime.LockOSThread()
	for f := range e.work {
		e.done <- f()
	}
}

// exec runs f on the CUDA goroutine and waits for it.
func (e *Engine) exec(f func() error) error {
	if e.closed {
		return errors.New("gpu: engine is closed")
	}
	e.work <- f
	return <-e.done
}

// openDevice opens the driver on the CUDA goroutine and checks the plan
// against the free memory.
func (e *Engine) openDevice(plan PoolPlan) error {
	drv, err := openDriver()
	if err != nil {
		return err
	}
	e.drv = drv
	di := drv.info()
	e.sms, e.maxSmem = di.sms, di.maxSmem
	need := plan.Total() + headroom
	if need > di.free {
		var parts []string
		for _, p := range planOrder(plan) {
			parts = append(parts, fmt.Sprintf("%s %s", p, gib(planSize(plan, p))))
		}
		return fmt.Errorf("gpu: the pool plan needs %s (%s) + %s headroom, but the GPU has %s free of %s",
			gib(plan.Total()), strings.Join(parts, ", "), gib(headroom), gib(di.free), gib(di.total))
	}
	e.desc = fmt.Sprintf("%s (sm_%d%d, %d SMs, %s of %s free at start)", di.name, di.cc[0], di.cc[1], di.sms,
		gib(di.free), gib(di.total))
	return nil
}

// setup loads the kernels, takes the pools and the pinned buffers and
// opens cuBLAS. Runs on the CUDA goroutine.
func (e *Engine) setup(plan PoolPlan, info, blasName *string) error {
	var err error
	if *info, err = e.drv.loadKernels(); err != nil {
		return err
	}
	e.lau = newLauncher(e.drv)
	e.pools = map[backend.Pool]*pool{}
	for _, p := range planOrder(plan) {
		size := planSize(plan, p)
		pl := &pool{name: p, capacity: size}
		if size > 0 {
			if pl.base, err = e.drv.memAlloc(size); err != nil {
				return fmt.Errorf("gpu: cuMemAlloc %s for pool %s: %w", gib(size), p, err)
			}
		}
		if p == backend.Activations || p == Scratch {
			a := newArena(size)
			pl.alloc = a
			if p == Scratch {
				e.scratch = a
			}
		} else {
			pl.alloc = newFreeList(size)
		}
		e.pools[p] = pl
	}
	for i := range e.pin {
		p, err := e.drv.hostAlloc(stagingBytes)
		if err != nil {
			return err
		}
		e.pin[i] = pinned{p: p, size: stagingBytes}
		if e.pinEv[i], err = e.drv.newEvent(); err != nil {
			return err
		}
	}
	*blasName = "none (gemm_simt fallback)"
	if name, err := e.drv.openBLAS(); err == nil {
		e.blas, *blasName = true, name
	} else if os.Getenv("SIRL_REQUIRE_CUBLAS") == "1" {
		return err
	}
	return nil
}

// shutdown releases everything (on the CUDA goroutine) and stops it.
func (e *Engine) shutdown() {
	if e.closed {
		return
	}
	e.exec(func() error {
		if e.drv == nil {
			return nil
		}
		e.drv.synchronize()
		for _, p := range e.pools {
			if p.base != 0 {
				e.drv.memFree(p.base)
				p.base = 0
			}
		}
		for i := range e.pin {
			e.drv.hostFree(e.pin[i].p)
			e.pin[i] = pinned{}
			if e.pinEv[i] != nil {
				e.pinEv[i].destroy()
				e.pinEv[i] = nil
			}
		}
		if e.lau != nil {
			e.lau.close()
			e.lau = nil
		}
		e.drv.close()
		e.drv = nil
		return nil
	})
	e.closed = true
	close(e.work)
}

// Close frees the pools and releases the device. The engine is unusable
// afterwards.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutdown()
	if e.err == nil {
		e.err = errors.New("gpu: engine is closed")
	}
	return nil
}

// Name is "cuda".
func (e *Engine) Name() string { return "cuda" }

// Device describes the GPU, the kernels' arch and the BLAS in use.
func (e *Engine) Device() string { return e.desc }

// Err returns the sticky error.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Sync waits for every queued op and returns the sticky error (a failure
// inside a kernel shows here).
func (e *Engine) Sync() error {
	e.run("Sync", func() error {
		return e.exec(func() error { return e.drv.synchronize() })
	})
	return e.Err()
}

// run executes one op under the engine lock: it does nothing after a
// failure and records the first error, prefixed with the op's name.
func (e *Engine) run(op string, f func() error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return
	}
	if err := f(); err != nil {
		e.err = fmt.Errorf("%s: %w", op, err)
	}
}

// fn returns the kernel named name from the loaded modules.
func (e *Engine) fn(name string) (*kfunc, error) {
	if k, ok := e.funcs[name]; ok {
		return k, nil
	}
	ref, err := e.drv.function(name)
	if err != nil {
		return nil, err
	}
	k := &kfunc{ref: ref, name: name, maxSmem: 48 << 10}
	e.funcs[name] = k
	return k, nil
}

// launch runs kernel name on the engine's stream (CUDA goroutine only).
func (e *Engine) launch(name string, grid, block dim3, smem int, args ...any) error {
	k, err := e.fn(name)
	if err != nil {
		return err
	}
	if smem > e.maxSmem {
		return fmt.Errorf("kernel %s needs %d bytes of shared memory, the GPU allows %d", name, smem, e.maxSmem)
	}
	return e.lau.launch(k, grid, block, smem, args...)
}

// gridFor is a grid-stride launch size for n elements with 256 threads.
func (e *Engine) gridFor(n int64) dim3 {
	b := (n + 255) / 256
	b = min(b, int64(max(e.sms, 1)*32))
	return dim3{int(max(b, 1)), 1, 1}
}

// planOrder lists the pools of a plan: backend.Pools first, then the
// others (scratch) by name.
func planOrder(plan PoolPlan) []backend.Pool {
	out := append([]backend.Pool(nil), backend.Pools...)
	var extra []string
	for p := range plan {
		known := false
		for _, q := range backend.Pools {
			known = known || p == q
		}
		if !known && p != Scratch {
			extra = append(extra, string(p))
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		out = append(out, backend.Pool(p))
	}
	return append(out, Scratch)
}

// planSize is a pool's size in the plan (scratch defaults).
func planSize(plan PoolPlan, p backend.Pool) int64 {
	if b, ok := plan[p]; ok {
		return b
	}
	if p == Scratch {
		return DefaultScratch
	}
	return 0
}

// gib formats bytes in GiB.
func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
