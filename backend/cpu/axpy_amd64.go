//go:build amd64 && !purego

package cpu

import "unsafe"

// axpy sets dst[i] += float32(w·x[i]) (product rounded, then added; the
// same bits as the scalar loop), eight at a time with AVX2 where available.
func axpy(dst, x []float32, w float32) {
	x = x[:len(dst)]
	n := 0
	if haveAVX2 {
		n = len(dst) &^ 7
		if n > 0 {
			axpyAVX2(unsafe.Pointer(&dst[0]), unsafe.Pointer(&x[0]), n, w)
		}
	}
	for i := n; i < len(dst); i++ {
		dst[i] += float32(w * x[i])
	}
}

//go:noescape
func axpyAVX2(dst, x unsafe.Pointer, n int, w float32)
