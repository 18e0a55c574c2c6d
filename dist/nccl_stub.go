//go:build !cuda

package dist

import "fmt"

// NCCLBuilt reports whether this binary has the NCCL communicator.
const NCCLBuilt = false

func openNCCL(Launch) (Comm, error) {
	return nil, fmt.Errorf("%w: nccl (rebuild with -tags cuda)", ErrNotBuilt)
}
