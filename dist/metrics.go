package dist

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
)

// ReduceMetrics sums float64 counters across ranks (token counts, reward
// sums, clipped tokens): the values of m are replaced by their sums. Every
// rank must hold the same keys: a disagreement is an error on every rank,
// found by a first all-reduce of the key count and hash (so no rank reduces
// a buffer of another length). A mean is a reduced sum divided by a reduced
// count.
func ReduceMetrics(c Comm, m map[string]float64) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := fnv.New32a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	// The hash in two 16-bit halves: their sums over ≤ 2^20 ranks are exact.
	sum := h.Sum32()
	head := []float64{float64(len(keys)), float64(sum & 0xffff), float64(sum >> 16)}
	want := slices.Clone(head)
	if err := c.AllReduceF64(head); err != nil {
		return fmt.Errorf("dist: metrics: %w", err)
	}
	// A rank whose own header is the average of the others' would pass
	// alone: the ranks agree on the verdict too.
	ok := []float64{1}
	for i := range head {
		if head[i] != want[i]*float64(c.Size()) {
			ok[0] = 0
		}
	}
	if err := c.AllReduceF64(ok); err != nil {
		return fmt.Errorf("dist: metrics: %w", err)
	}
	if ok[0] != float64(c.Size()) {
		return fmt.Errorf("dist: metrics: ranks disagree on the metric names (rank %d has %d: %v)", c.Rank(), len(keys), keys)
	}
	buf := make([]float64, len(keys))
	for i, k := range keys {
		buf[i] = m[k]
	}
	if err := c.AllReduceF64(buf); err != nil {
		return fmt.Errorf("dist: metrics: %w", err)
	}
	for i, k := range keys {
		m[k] = buf[i]
	}
	return nil
}

// ErrRootFailed is wrapped by OnRoot's error on the ranks other than 0 when
// rank 0's write failed.
var ErrRootFailed = errors.New("dist: rank 0 failed to write")

// OnRoot runs write on rank 0 alone (checkpoints, metrics, the summary) and
// tells every rank how it went: rank 0 returns write's error, the others an
// error quoting it. It is a collective: every rank calls it. Afterwards
// every rank may read what rank 0 wrote (on a shared file system).
func OnRoot(c Comm, write func() error) error {
	var werr error
	msg := []byte{}
	if c.Rank() == 0 {
		werr = write()
		if werr != nil {
			msg = []byte(werr.Error() + " ") // never empty: empty means success
		}
	}
	// Length first, then the message when there is one.
	n := []byte{byte(len(msg) >> 24), byte(len(msg) >> 16), byte(len(msg) >> 8), byte(len(msg))}
	if err := c.Broadcast(n, 0); err != nil {
		return fmt.Errorf("dist: rank-0 write status: %w", err)
	}
	size := int(n[0])<<24 | int(n[1])<<16 | int(n[2])<<8 | int(n[3])
	if size == 0 {
		return werr
	}
	if c.Rank() != 0 {
		msg = make([]byte, size)
	}
	if err := c.Broadcast(msg, 0); err != nil {
		return fmt.Errorf("dist: rank-0 write status: %w", err)
	}
	if c.Rank() == 0 {
		return werr
	}
	return fmt.Errorf("%w: %s", ErrRootFailed, msg)
}

// Fatal is the end of a rank that cannot go on: it aborts the whole job
// through c with exit status 1 when err is not nil. Use it where a rank
// returns an error the others cannot know about.
func Fatal(c Comm, err error) {
	if err != nil {
		c.Abort(1, err)
		os.Exit(1) // Abort does not return; this is for a Comm that does
	}
}
