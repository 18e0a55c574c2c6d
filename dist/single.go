package dist

import (
	"fmt"
	"os"
)

// Single is the Comm of one process: rank 0 of 1. Its reductions leave the
// buffers as they are, its broadcast and barrier return at once, and Abort
// exits the process.
type Single struct{}

// Rank is 0.
func (Single) Rank() int { return 0 }

// Size is 1.
func (Single) Size() int { return 1 }

// LocalRank is 0.
func (Single) LocalRank() int { return 0 }

// AllReduceF32 leaves buf as it is (the sum over one rank).
func (Single) AllReduceF32([]float32) error { return nil }

// AllReduceF64 leaves buf as it is.
func (Single) AllReduceF64([]float64) error { return nil }

// Broadcast checks root and leaves buf as it is.
func (Single) Broadcast(_ []byte, root int) error { return checkRoot(root, 1) }

// Barrier returns at once.
func (Single) Barrier() error { return nil }

// Abort prints err and exits with code.
func (Single) Abort(code int, err error) {
	fmt.Fprintf(os.Stderr, "rank 0/1: aborting: %v\n", err)
	os.Exit(code)
}

// Close does nothing.
func (Single) Close() error { return nil }
