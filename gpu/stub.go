//go:build !cuda && !cudaemu

package gpu

import "github.com/sirl-dev/sirl/backend"

// New returns backend.ErrNoCUDA: this binary was built without the cuda
// (or cudaemu) tag.
func New(plan PoolPlan) (backend.Backend, error) { return nil, backend.ErrNoCUDA }

// Emulated reports whether New opens the CUDA emulator (the cudaemu build).
func Emulated() bool { return false }

// Available reports whether this binary can run the CUDA engine: never
// without the cuda or cudaemu build tag.
func Available() bool { return false }
