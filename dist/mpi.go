//go:build mpi

package dist

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <stdlib.h>

// Open MPI's handles are macros over globals; cgo reaches them through
// these functions.

// sirl_mpi_init starts MPI with calls serialised by the caller. Open MPI's
// own SIGSEGV/SIGBUS/SIGFPE/SIGILL handlers are left out (unless the user
// sets OMPI_MCA_opal_signal): Go's runtime owns those signals.
static int sirl_mpi_init(int* provided) {
	int done = 0;
	MPI_Initialized(&done);
	if (done) {
		MPI_Query_thread(provided);
		return MPI_SUCCESS;
	}
	setenv("OMPI_MCA_opal_signal", "", 0);
	return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
}

static int sirl_mpi_serialized(void) { return MPI_THREAD_SERIALIZED; }

static int sirl_mpi_world(int* rank, int* size) {
	int r = MPI_Comm_rank(MPI_COMM_WORLD, rank);
	if (r != MPI_SUCCESS) return r;
	return MPI_Comm_size(MPI_COMM_WORLD, size);
}

// sirl_mpi_local_rank is the rank among the processes sharing this node.
static int sirl_mpi_local_rank(int rank, int* local) {
	MPI_Comm node;
	int r = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
	if (r != MPI_SUCCESS) return r;
	r = MPI_Comm_rank(node, local);
	MPI_Comm_free(&node);
	return r;
}

static int sirl_mpi_allreduce_f32(float* buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

static int sirl_mpi_allreduce_f64(double* buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static int sirl_mpi_bcast(void* buf, int n, int root) {
	return MPI_Bcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD);
}

static int sirl_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

static void sirl_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static int sirl_mpi_finalize(void) { return MPI_Finalize(); }

static void sirl_mpi_error_string(int code, char* out, int cap) {
	int n = 0;
	if (MPI_Error_string(code, out, &n) != MPI_SUCCESS || n >= cap) n = 0;
	out[n] = 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// MPIBuilt reports whether this binary has the MPI communicator.
const MPIBuilt = true

// maxCount is the most elements one MPI call takes (its count is an int).
const maxCount = 1 << 30

// mpiComm is the Comm of MPI_COMM_WORLD. MPI runs with
// MPI_THREAD_SERIALIZED: the mutex keeps calls from goroutines apart.
type mpiComm struct {
	mu                sync.Mutex
	rank, size, local int
	closed            bool
}

func mpiErr(what string, code C.int) error {
	if code == C.MPI_SUCCESS {
		return nil
	}
	var buf [C.MPI_MAX_ERROR_STRING + 1]C.char
	C.sirl_mpi_error_string(code, &buf[0], C.int(len(buf)))
	return fmt.Errorf("dist: %s: MPI error %d: %s", what, int(code), C.GoString(&buf[0]))
}

// openMPI initialises MPI and checks its world against the launch: when the
// launch came from flags or a launcher's variables, MPI's rank and size must
// be the same.
func openMPI(l Launch) (Comm, error) {
	var provided C.int
	if err := mpiErr("MPI_Init_thread", C.sirl_mpi_init(&provided)); err != nil {
		return nil, err
	}
	if provided < C.sirl_mpi_serialized() {
		return nil, fmt.Errorf("dist: this MPI gives thread level %d, below MPI_THREAD_SERIALIZED", int(provided))
	}
	var rank, size, local C.int
	if err := mpiErr("MPI_Comm_rank/size", C.sirl_mpi_world(&rank, &size)); err != nil {
		return nil, err
	}
	if err := mpiErr("MPI_Comm_split_type", C.sirl_mpi_local_rank(rank, &local)); err != nil {
		return nil, err
	}
	c := &mpiComm{rank: int(rank), size: int(size), local: int(local)}
	if l.Source != "default" && l.Source != "" && (l.Rank != c.rank || l.Size != c.size) {
		return nil, fmt.Errorf("dist: launch from %s says rank %d of %d, MPI says rank %d of %d", l.Source, l.Rank, l.Size, c.rank, c.size)
	}
	return c, nil
}

func (c *mpiComm) Rank() int      { return c.rank }
func (c *mpiComm) Size() int      { return c.size }
func (c *mpiComm) LocalRank() int { return c.local }

// call runs f under the mutex, refusing after Close.
func (c *mpiComm) call(what string, f func() C.int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("dist: %s after Close", what)
	}
	return mpiErr(what, f())
}

// AllReduceF32 sums buf over the ranks in place (MPI_Allreduce, MPI_SUM), in
// pieces of at most 2^30 elements.
func (c *mpiComm) AllReduceF32(buf []float32) error {
	for lo := 0; lo < len(buf); lo += maxCount {
		part := buf[lo:min(lo+maxCount, len(buf))]
		if err := c.call("MPI_Allreduce(float)", func() C.int {
			return C.sirl_mpi_allreduce_f32((*C.float)(unsafe.Pointer(&part[0])), C.int(len(part)))
		}); err != nil {
			return err
		}
	}
	return nil
}

// AllReduceF64 sums buf over the ranks in place.
func (c *mpiComm) AllReduceF64(buf []float64) error {
	for lo := 0; lo < len(buf); lo += maxCount {
		part := buf[lo:min(lo+maxCount, len(buf))]
		if err := c.call("MPI_Allreduce(double)", func() C.int {
			return C.sirl_mpi_allreduce_f64((*C.double)(unsafe.Pointer(&part[0])), C.int(len(part)))
		}); err != nil {
			return err
		}
	}
	return nil
}

// Broadcast copies root's buf to every rank (MPI_Bcast of bytes).
func (c *mpiComm) Broadcast(buf []byte, root int) error {
	if err := checkRoot(root, c.size); err != nil {
		return err
	}
	for lo := 0; lo < len(buf); lo += maxCount {
		part := buf[lo:min(lo+maxCount, len(buf))]
		if err := c.call("MPI_Bcast", func() C.int {
			return C.sirl_mpi_bcast(unsafe.Pointer(&part[0]), C.int(len(part)), C.int(root))
		}); err != nil {
			return err
		}
	}
	return nil
}

// Barrier is MPI_Barrier.
func (c *mpiComm) Barrier() error {
	return c.call("MPI_Barrier", func() C.int { return C.sirl_mpi_barrier() })
}

// Abort prints err and calls MPI_Abort on the world: mpirun (or srun) then
// ends every rank and exits non-zero. It does not take the mutex: another
// goroutine may be blocked in a collective.
func (c *mpiComm) Abort(code int, err error) {
	fmt.Fprintf(os.Stderr, "rank %d/%d: aborting the job: %v\n", c.rank, c.size, err)
	C.sirl_mpi_abort(C.int(code))
	os.Exit(code)
}

// Close is MPI_Finalize; later calls do nothing.
func (c *mpiComm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return mpiErr("MPI_Finalize", C.sirl_mpi_finalize())
}
