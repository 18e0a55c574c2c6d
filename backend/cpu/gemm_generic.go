//go:build !amd64 || purego

package cpu

// gemmKernels lists the micro-kernels of this platform: the portable one.
func gemmKernels() []gemmKernel { return []gemmKernel{goKernel} }
