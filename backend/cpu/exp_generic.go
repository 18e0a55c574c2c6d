//go:build !amd64 || purego

package cpu

// expSub sets x[i] = exp(x[i] − m).
func expSub(x []float32, m float32) {
	for i, v := range x {
		x[i] = expf(v - m)
	}
}
