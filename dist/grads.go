package dist

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// GradReducer all-reduces a list of gradient tensors of any engine through
// one flat host staging buffer: every tensor is downloaded into its slice
// of the buffer, the buffer is summed across ranks in one AllReduceF32,
// and every slice is uploaded back. The buffer is kept between calls. The
// result is the sum over ranks: a training loop that normalises each
// rank's loss by the global token count (all-reduced first) gets the
// gradient of the global mean. Not safe for concurrent use.
type GradReducer struct {
	c   Comm
	be  backend.Backend
	buf []float32
}

// NewGradReducer returns a reducer over c for tensors of be.
func NewGradReducer(c Comm, be backend.Backend) *GradReducer {
	return &GradReducer{c: c, be: be}
}

// AllReduce replaces every tensor of ts with its sum over the ranks. Every
// rank must pass tensors of the same shapes in the same order. With one
// rank it does nothing.
func (g *GradReducer) AllReduce(ts []backend.Tensor) error {
	if g.c.Size() == 1 || len(ts) == 0 {
		return nil
	}
	n := 0
	for _, t := range ts {
		n += t.Len()
	}
	if cap(g.buf) < n {
		g.buf = make([]float32, n)
	}
	buf := g.buf[:n]
	off := 0
	for _, t := range ts {
		g.be.Download(t, buf[off:off+t.Len()])
		off += t.Len()
	}
	if err := g.be.Err(); err != nil {
		return fmt.Errorf("dist: gradient all-reduce: download: %w", err)
	}
	if err := g.c.AllReduceF32(buf); err != nil {
		return fmt.Errorf("dist: gradient all-reduce of %d values: %w", n, err)
	}
	off = 0
	for _, t := range ts {
		g.be.Upload(t, buf[off:off+t.Len()])
		off += t.Len()
	}
	if err := g.be.Err(); err != nil {
		return fmt.Errorf("dist: gradient all-reduce: upload: %w", err)
	}
	return nil
}

// Bytes is the size of one all-reduce of ts: 4 bytes a value.
func Bytes(ts []backend.Tensor) int64 {
	var n int64
	for _, t := range ts {
		n += int64(t.Len())
	}
	return 4 * n
}
