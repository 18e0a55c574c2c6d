//go:build !amd64 || purego

package cpu

// bestKernel is the portable micro-kernel on this platform.
func bestKernel() gemmKernel { return goKernel }
