// Package dist is data parallelism across processes: a Comm of collectives
// (sum all-reduce of float32 and float64 buffers, byte broadcast, barrier,
// abort), the launch conventions that give a process its rank (flags,
// torchrun, Open MPI, Slurm), and the helpers a training loop calls once per
// step: sharding a step's prompt groups across ranks, all-reducing a list
// of gradient tensors through one flat host staging buffer, reducing
// metrics, and letting rank 0 alone write.
//
// Three Comms: Single (one process, every build), MPI (build tag mpi, cgo
// to Open MPI) and NCCL (build tag cuda, libnccl.so.2 loaded with dlopen;
// untested on a GPU). The collectives come from those libraries, never from
// a protocol of this package.
//
// Every rank must call the collectives in the same order with buffers of
// the same length; a rank that cannot go on calls Abort, which ends the
// whole job (an MPI or NCCL Comm), so no rank waits forever.
package dist

import (
	"errors"
	"fmt"
)

// Comm is a group of processes (ranks 0..Size-1) that run the same program.
type Comm interface {
	// Rank is this process's index, Size the number of processes, and
	// LocalRank its index among the processes of its node (it picks the
	// GPU).
	Rank() int
	Size() int
	LocalRank() int
	// AllReduceF32 replaces buf on every rank with the element-wise sum of
	// every rank's buf (same length everywhere). Every rank receives the
	// same bits.
	AllReduceF32(buf []float32) error
	// AllReduceF64 is AllReduceF32 for float64 (counters, metrics).
	AllReduceF64(buf []float64) error
	// Broadcast copies root's buf into every rank's buf (same length).
	Broadcast(buf []byte, root int) error
	// Barrier returns once every rank has called it.
	Barrier() error
	// Abort ends every rank of the job with exit status code, after
	// printing err with this rank's number; it does not return.
	Abort(code int, err error)
	// Close leaves the group (MPI_Finalize, ncclCommDestroy). Every rank
	// calls it once at the end; no collective may follow.
	Close() error
}

// ErrNotBuilt is returned by Open for a Comm kind this binary lacks.
var ErrNotBuilt = errors.New("dist: communicator not built into this binary")

// Kinds of Comm for Open.
const (
	KindSingle = "single"
	KindMPI    = "mpi"
	KindNCCL   = "nccl"
)

// Open returns the Comm of kind for the launch l (from ResolveLaunch):
// "single" needs l.Size == 1; "mpi" needs the mpi build tag and checks that
// MPI's rank and size agree with l; "nccl" needs the cuda build tag.
func Open(kind string, l Launch) (Comm, error) {
	switch kind {
	case KindSingle:
		if l.Size > 1 {
			return nil, fmt.Errorf("dist: a single-process communicator for a world of %d ranks (from %s): use mpi or nccl", l.Size, l.Source)
		}
		return Single{}, nil
	case KindMPI:
		return openMPI(l)
	case KindNCCL:
		return openNCCL(l)
	}
	return nil, fmt.Errorf("dist: unknown communicator %q (single, mpi, nccl)", kind)
}

// checkRoot checks a broadcast's root rank.
func checkRoot(root, size int) error {
	if root < 0 || root >= size {
		return fmt.Errorf("dist: broadcast root %d outside ranks 0..%d", root, size-1)
	}
	return nil
}
