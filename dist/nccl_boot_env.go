//go:build cuda && !mpi

package dist

import (
	"fmt"
	"os"
	"strconv"
)

// ncclBootstrap without MPI: every rank calls getID, which with
// NCCL_COMM_ID=host:port set yields the same id on every rank (rank 0
// serves the bootstrap at that address). Under torchrun NCCL_COMM_ID
// defaults to MASTER_ADDR and MASTER_PORT+1 (torchrun's own store holds
// MASTER_PORT). One rank needs no address.
func ncclBootstrap(l Launch, _ *[128]byte, getID func() error) (Comm, error) {
	if l.Size > 1 && os.Getenv("NCCL_COMM_ID") == "" {
		if l.MasterAddr == "" || l.MasterPort == 0 {
			return nil, fmt.Errorf("dist: nccl: %d ranks without MPI need NCCL_COMM_ID=host:port (or torchrun's MASTER_ADDR and MASTER_PORT)", l.Size)
		}
		os.Setenv("NCCL_COMM_ID", l.MasterAddr+":"+strconv.Itoa(l.MasterPort+1))
	}
	return nil, getID()
}
