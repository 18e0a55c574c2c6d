// Package guard stops a cuda-tagged binary with one clear line when the
// machine has no usable NVIDIA driver or GPU, instead of the silent
// os.Exit(1) in gorgonia.org/cu's init.
//
// The gpu package imports it (blank) in its cuda build. Go initialises
// packages in import-path order among those whose imports are ready, and
// "github.com/sirl-dev/sirl/gpu/guard" sorts before "gorgonia.org/cu", so
// this init runs first. It opens libcuda.so.1 with dlopen and asks
// cuInit and cuDeviceGetCount; on failure it prints the reason and exits
// with status 3 (a test binary then fails rather than passing silently).
// Setting SIRL_GUARD=off skips the check.
package guard
