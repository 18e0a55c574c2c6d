//go:build !cuda

package gpu

import "github.com/sirl-dev/sirl/backend"

// New returns backend.ErrNoCUDA: this binary was built without the cuda tag.
func New(plan PoolPlan) (backend.Backend, error) { return nil, backend.ErrNoCUDA }

// Available reports whether this binary can run the CUDA engine: never
// without the cuda build tag.
func Available() bool { return false }
