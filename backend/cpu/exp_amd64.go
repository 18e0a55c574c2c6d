//go:build amd64 && !purego

package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveAVX2 is fixed at start-up from the CPU's features.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// expSub sets x[i] = exp(x[i] − m): eight lanes at a time with AVX2 where
// available, expf for the rest. Results below e^−87 are 0.
func expSub(x []float32, m float32) {
	n := 0
	if haveAVX2 {
		n = len(x) &^ 7
		if n > 0 {
			expSubAVX2(unsafe.Pointer(&x[0]), n, m)
		}
	}
	for i := n; i < len(x); i++ {
		x[i] = expf(x[i] - m)
	}
}

//go:noescape
func expSubAVX2(x unsafe.Pointer, n int, m float32)
