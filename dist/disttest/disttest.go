// Package disttest is an in-process world of ranks for tests of code above
// dist.Comm: one goroutine per rank, each with a Comm whose collectives
// wait for every rank and then hand each the combined value (sums taken in
// rank order, as a deterministic MPI reduction would). A rank that fails
// aborts the world: every rank waiting in a collective, or entering one
// later, gets an error instead of waiting forever.
package disttest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sirl-dev/sirl/dist"
)

// ErrAborted is wrapped by the collectives' errors after a rank aborted.
var ErrAborted = errors.New("disttest: the world was aborted")

// World is n ranks in one process.
type World struct {
	n       int
	mu      sync.Mutex
	cond    *sync.Cond
	gen     int   // rounds completed
	in      []any // this round's contributions by rank
	seen    int
	out     any   // the last round's result
	aborted error // set by Abort
}

// NewWorld returns a world of n ranks.
func NewWorld(n int) *World {
	w := &World{n: n, in: make([]any, n)}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Comm is rank r's communicator.
func (w *World) Comm(r int) dist.Comm { return comm{w: w, rank: r} }

// Abort ends the world with err: collectives in progress and later ones
// fail.
func (w *World) Abort(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted == nil {
		w.aborted = err
	}
	w.cond.Broadcast()
}

// Run runs f on every rank of a new world of n ranks at once and returns
// each rank's error. A rank whose f fails aborts the world, so the others
// return too.
func Run(n int, f func(c dist.Comm) error) []error {
	w := NewWorld(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[r] = f(w.Comm(r)); errs[r] != nil {
				w.Abort(fmt.Errorf("rank %d: %w", r, errs[r]))
			}
		}()
	}
	wg.Wait()
	return errs
}

// round deposits v for rank and, once every rank has, returns combine of
// the contributions (computed once, by the last rank to arrive).
func (w *World) round(rank int, v any, combine func([]any) (any, error)) (any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted != nil {
		return nil, fmt.Errorf("%w: %v", ErrAborted, w.aborted)
	}
	gen := w.gen
	w.in[rank] = v
	w.seen++
	if w.seen == w.n {
		out, err := combine(w.in)
		if err != nil {
			w.aborted = err
			w.cond.Broadcast()
			return nil, err
		}
		w.out, w.in, w.seen = out, make([]any, w.n), 0
		w.gen++
		w.cond.Broadcast()
	}
	for w.gen == gen && w.aborted == nil {
		w.cond.Wait()
	}
	if w.gen == gen {
		return nil, fmt.Errorf("%w: %v", ErrAborted, w.aborted)
	}
	return w.out, nil
}

type comm struct {
	w    *World
	rank int
}

func (c comm) Rank() int      { return c.rank }
func (c comm) Size() int      { return c.w.n }
func (c comm) LocalRank() int { return c.rank }

// sum is the element-wise sum of equal-length slices, in rank order.
func sum[T float32 | float64](all []any) (any, error) {
	s := make([]T, len(all[0].([]T)))
	for r, a := range all {
		v := a.([]T)
		if len(v) != len(s) {
			return nil, fmt.Errorf("disttest: all-reduce lengths differ: rank %d has %d, rank 0 %d", r, len(v), len(s))
		}
		for i := range s {
			s[i] += v[i]
		}
	}
	return s, nil
}

func (c comm) AllReduceF32(buf []float32) error {
	out, err := c.w.round(c.rank, append([]float32(nil), buf...), sum[float32])
	if err != nil {
		return err
	}
	copy(buf, out.([]float32))
	return nil
}

func (c comm) AllReduceF64(buf []float64) error {
	out, err := c.w.round(c.rank, append([]float64(nil), buf...), sum[float64])
	if err != nil {
		return err
	}
	copy(buf, out.([]float64))
	return nil
}

func (c comm) Broadcast(buf []byte, root int) error {
	if root < 0 || root >= c.w.n {
		return fmt.Errorf("disttest: broadcast root %d outside ranks 0..%d", root, c.w.n-1)
	}
	out, err := c.w.round(c.rank, append([]byte(nil), buf...), func(all []any) (any, error) {
		for r, a := range all {
			if len(a.([]byte)) != len(all[root].([]byte)) {
				return nil, fmt.Errorf("disttest: broadcast lengths differ: rank %d has %d, root %d", r, len(a.([]byte)), len(all[root].([]byte)))
			}
		}
		return all[root], nil
	})
	if err != nil {
		return err
	}
	copy(buf, out.([]byte))
	return nil
}

func (c comm) Barrier() error {
	_, err := c.w.round(c.rank, nil, func([]any) (any, error) { return nil, nil })
	return err
}

// Abort aborts the world and ends this rank's goroutine (runtime.Goexit is
// not used: the caller's deferred functions would hide the abort); it
// panics with the error, as a test wants to see it.
func (c comm) Abort(code int, err error) {
	c.w.Abort(fmt.Errorf("rank %d aborted with status %d: %w", c.rank, code, err))
	panic(fmt.Sprintf("disttest: rank %d aborted with status %d: %v", c.rank, code, err))
}

func (c comm) Close() error { return nil }
