package dist_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sirl-dev/sirl/dist"
)

// fakeWorld is an in-process stand-in for a job of n ranks, one goroutine
// each, for testing the helpers above Comm: every collective waits for all
// ranks, then each rank reads the combined value (sums in rank order).
type fakeWorld struct {
	n    int
	mu   sync.Mutex
	cond *sync.Cond
	gen  int
	in   []any // this round's contributions by rank
	out  any   // the last round's result
	seen int
}

func newFakeWorld(n int) *fakeWorld {
	w := &fakeWorld{n: n, in: make([]any, n)}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// round deposits v for rank and, once every rank has, returns combine of
// all contributions (computed once).
func (w *fakeWorld) round(rank int, v any, combine func([]any) any) any {
	w.mu.Lock()
	defer w.mu.Unlock()
	gen := w.gen
	w.in[rank] = v
	w.seen++
	if w.seen == w.n {
		w.out = combine(w.in)
		w.in = make([]any, w.n)
		w.seen = 0
		w.gen++
		w.cond.Broadcast()
	}
	for w.gen == gen {
		w.cond.Wait()
	}
	return w.out
}

type fakeComm struct {
	w    *fakeWorld
	rank int
}

func (c fakeComm) Rank() int      { return c.rank }
func (c fakeComm) Size() int      { return c.w.n }
func (c fakeComm) LocalRank() int { return c.rank }

func (c fakeComm) AllReduceF32(buf []float32) error {
	sum := c.w.round(c.rank, append([]float32(nil), buf...), func(all []any) any {
		s := make([]float32, len(buf))
		for _, a := range all {
			v := a.([]float32)
			if len(v) != len(s) {
				return fmt.Errorf("lengths differ")
			}
			for i := range s {
				s[i] += v[i]
			}
		}
		return s
	})
	if err, ok := sum.(error); ok {
		return err
	}
	copy(buf, sum.([]float32))
	return nil
}

func (c fakeComm) AllReduceF64(buf []float64) error {
	sum := c.w.round(c.rank, append([]float64(nil), buf...), func(all []any) any {
		s := make([]float64, len(buf))
		for _, a := range all {
			v := a.([]float64)
			if len(v) != len(s) {
				return fmt.Errorf("lengths differ")
			}
			for i := range s {
				s[i] += v[i]
			}
		}
		return s
	})
	if err, ok := sum.(error); ok {
		return err
	}
	copy(buf, sum.([]float64))
	return nil
}

func (c fakeComm) Broadcast(buf []byte, root int) error {
	v := c.w.round(c.rank, append([]byte(nil), buf...), func(all []any) any { return all[root] })
	copy(buf, v.([]byte))
	return nil
}

func (c fakeComm) Barrier() error {
	c.w.round(c.rank, nil, func([]any) any { return nil })
	return nil
}

func (c fakeComm) Abort(code int, err error) { panic(fmt.Sprintf("abort %d: %v", code, err)) }
func (c fakeComm) Close() error              { return nil }

// onRanks runs f on n fake ranks at once and returns their errors.
func onRanks(t *testing.T, n int, f func(c dist.Comm) error) []error {
	t.Helper()
	w := newFakeWorld(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(fakeComm{w: w, rank: r})
		}()
	}
	wg.Wait()
	return errs
}

// noErrors fails t for each rank's error.
func noErrors(t *testing.T, errs []error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
