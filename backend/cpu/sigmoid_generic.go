//go:build !amd64 || purego

package cpu

// sigmoids sets dst[i] = sigmoid(src[i]).
func sigmoids(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = sigmoid(x)
	}
}
