//go:build !amd64 || purego

package cpu

// axpy sets dst[i] += float32(w·x[i]).
func axpy(dst, x []float32, w float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += float32(w * v)
	}
}
