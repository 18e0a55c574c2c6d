//go:build !(linux && cgo)

package nvrtc

import "errors"

// Lib is an opened libnvrtc; on this platform (no cgo or not Linux) none
// can be opened.
type Lib struct{}

// Load always fails here: loading NVRTC needs cgo on Linux.
func Load() (*Lib, error) {
	return nil, errors.Join(ErrNotFound, errors.New("nvrtc: this build has no cgo or is not for Linux"))
}

// Name is empty here.
func (lib *Lib) Name() string { return "" }

// Version is 0.0 here.
func (lib *Lib) Version() (major, minor int) { return 0, 0 }

// Compile always fails here.
func (lib *Lib) Compile(name, src string, headers map[string]string, opts []string) (Result, error) {
	return Result{}, ErrNotFound
}
