//go:build !mpi

package dist

import "fmt"

// MPIBuilt reports whether this binary has the MPI communicator.
const MPIBuilt = false

func openMPI(Launch) (Comm, error) {
	return nil, fmt.Errorf("%w: mpi (rebuild with -tags mpi; needs Open MPI's libopenmpi-dev)", ErrNotBuilt)
}
