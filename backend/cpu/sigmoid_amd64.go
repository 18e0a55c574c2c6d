//go:build amd64 && !purego

package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveSigmoidAVX512 is set when sigmoidAVX512 runs and matches math.Exp:
// math.Exp takes its FMA path when the CPU has AVX and FMA.
var haveSigmoidAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX && cpu.X86.HasFMA

// sigmoids sets dst[i] = sigmoid(src[i]) (the same bits), eight at a time
// with AVX-512 where available.
func sigmoids(dst, src []float32) {
	src = src[:len(dst)]
	i := 0
	if haveSigmoidAVX512 {
		for i+8 <= len(dst) {
			i += sigmoidAVX512(unsafe.Pointer(&dst[i]), unsafe.Pointer(&src[i]), (len(dst)-i)&^7)
			if i+8 > len(dst) {
				break
			}
			// The assembly stopped at a group with |x| > 700 or NaN.
			for j := i; j < i+8; j++ {
				dst[j] = sigmoid(src[j])
			}
			i += 8
		}
	}
	for ; i < len(dst); i++ {
		dst[i] = sigmoid(src[i])
	}
}

// sigmoidAVX512 computes sigmoid on src[0:n] into dst (n a multiple of 8)
// and returns how many it did: all n, or up to the first group of eight
// holding a NaN or |x| > 700.
//
//go:noescape
func sigmoidAVX512(dst, src unsafe.Pointer, n int) int
