//go:build cuda && mpi

package dist

import "fmt"

// ncclBootstrap with MPI: rank 0 gets the unique id and MPI broadcasts it;
// the MPI Comm stays open for Abort (MPI_Abort ends every rank).
func ncclBootstrap(l Launch, id *[128]byte, getID func() error) (Comm, error) {
	boot, err := openMPI(l)
	if err != nil {
		return nil, fmt.Errorf("dist: nccl bootstrap: %w", err)
	}
	if boot.Rank() == 0 {
		if err := getID(); err != nil {
			boot.Abort(1, err)
		}
	}
	if err := boot.Broadcast(id[:], 0); err != nil {
		return nil, fmt.Errorf("dist: nccl bootstrap: %w", err)
	}
	return boot, nil
}
