package dist

import "fmt"

// Shard returns the half-open range [lo, hi) of the n items (a step's
// prompt groups, evaluation problems) that rank owns among size ranks:
// contiguous blocks in rank order whose sizes differ by at most one, the
// larger ones first. It depends on n, rank and size only, so every rank
// computes every rank's range alike; all completions of a prompt stay with
// the rank that owns the prompt.
func Shard(n, rank, size int) (lo, hi int, err error) {
	if n < 0 || size < 1 || rank < 0 || rank >= size {
		return 0, 0, fmt.Errorf("dist: shard of %d items for rank %d of %d", n, rank, size)
	}
	q, r := n/size, n%size
	lo = rank*q + min(rank, r)
	hi = lo + q
	if rank < r {
		hi++
	}
	return lo, hi, nil
}

// GatherF64 assembles per-item values computed by their owners (Shard's
// ranges) on every rank: local holds this rank's values for its range, in
// order; the result holds all n. It is one AllReduceF64 over a buffer that
// is zero outside each rank's range, so the values arrive exactly (x + 0 is
// x).
func GatherF64(c Comm, n int, local []float64) ([]float64, error) {
	lo, hi, err := Shard(n, c.Rank(), c.Size())
	if err != nil {
		return nil, err
	}
	if len(local) != hi-lo {
		return nil, fmt.Errorf("dist: gather: rank %d has %d values for its %d items [%d, %d)", c.Rank(), len(local), hi-lo, lo, hi)
	}
	out := make([]float64, n)
	copy(out[lo:hi], local)
	if err := c.AllReduceF64(out); err != nil {
		return nil, fmt.Errorf("dist: gather: %w", err)
	}
	return out, nil
}
