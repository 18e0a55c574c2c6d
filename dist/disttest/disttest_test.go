package disttest

import (
	"errors"
	"testing"

	"github.com/sirl-dev/sirl/dist"
)

// TestCollectives: sums arrive on every rank, broadcasts carry the root's
// bytes, and GatherF64 (one all-reduce) assembles every rank's share.
func TestCollectives(t *testing.T) {
	errs := Run(3, func(c dist.Comm) error {
		f := []float32{float32(c.Rank()), 1}
		if err := c.AllReduceF32(f); err != nil || f[0] != 3 || f[1] != 3 {
			t.Errorf("rank %d: f32 sum %v, %v", c.Rank(), f, err)
		}
		b := []byte{byte(c.Rank()), 7}
		if err := c.Broadcast(b, 2); err != nil || b[0] != 2 || b[1] != 7 {
			t.Errorf("rank %d: broadcast %v, %v", c.Rank(), b, err)
		}
		lo, hi, _ := dist.Shard(5, c.Rank(), c.Size())
		local := make([]float64, hi-lo)
		for i := range local {
			local[i] = float64(lo + i)
		}
		all, err := dist.GatherF64(c, 5, local)
		if err != nil {
			return err
		}
		for i, v := range all {
			if v != float64(i) {
				t.Errorf("rank %d: gathered %v", c.Rank(), all)
				break
			}
		}
		return c.Barrier()
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestFailingRankAborts: a rank that returns an error before a collective
// ends the others' wait in it with ErrAborted; a length mismatch is an
// error on every rank.
func TestFailingRankAborts(t *testing.T) {
	boom := errors.New("boom")
	errs := Run(3, func(c dist.Comm) error {
		if c.Rank() == 1 {
			return boom
		}
		return c.Barrier()
	})
	if !errors.Is(errs[1], boom) || !errors.Is(errs[0], ErrAborted) || !errors.Is(errs[2], ErrAborted) {
		t.Errorf("errors %v: want boom on rank 1, ErrAborted on 0 and 2", errs)
	}
	errs = Run(2, func(c dist.Comm) error {
		return c.AllReduceF64(make([]float64, 1+c.Rank()))
	})
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d: all-reduce of unequal lengths succeeded", r)
		}
	}
}
