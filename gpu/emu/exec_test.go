//go:build cudaemu

package emu

import (
	"math"
	"strings"
	"testing"
)

// reduceSrc sums 256 values per block through shared memory; with
// -DNOBAR the barrier between the stores and the tree is missing.
const reduceSrc = `
extern "C" __global__ void __launch_bounds__(256) reduce(const float* x, float* out) {
  __shared__ float sh[256];
  int t = threadIdx.x;
  sh[255 - t] = x[blockIdx.x * 256 + t];
  BARRIER
  for (int s = 128; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = sh[0];
}
`

func runReduce(t *testing.T, reverse, barrier bool) ([]float32, []float32) {
	t.Helper()
	b := "__syncthreads();"
	if !barrier {
		b = ""
	}
	d, m := open(t, reverse, strings.Replace(reduceSrc, "BARRIER", b, 1))
	x := alloc(t, d, 3*256*4)
	out := alloc(t, d, 3*4)
	xs := x.f32()
	want := make([]float32, 3)
	for i := range xs {
		xs[i] = float32(i%7)*0.5 + 1
	}
	for blk := range 3 {
		// the tree's order of additions, exact for these small integers
		var s float64
		for i := range 256 {
			s += float64(xs[blk*256+i])
		}
		want[blk] = float32(s)
	}
	if err := launch(d, m, "reduce", [3]int{3, 1, 1}, [3]int{256, 1, 1}, 0, args(x, out)); err != nil {
		t.Fatal(err)
	}
	return out.f32(), want
}

func TestBarrierReduction(t *testing.T) {
	for _, rev := range []bool{false, true} {
		got, want := runReduce(t, rev, true)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("reverse=%v block %d: %v, want %v", rev, i, got[i], want[i])
			}
		}
	}
	// Without the barrier, thread t stores slot 255-t and reads slot
	// t+s at once: in either order some read comes before the store (in
	// reverse order the NaN poison survives to the result).
	for _, rev := range []bool{false, true} {
		got, want := runReduce(t, rev, false)
		for i := range got {
			if got[i] == want[i] {
				t.Errorf("reverse=%v: missing barrier not visible in block %d: %v", rev, i, got[i])
			}
			if rev && !math.IsNaN(float64(got[i])) {
				t.Errorf("reverse: block %d = %v, want the NaN poison", i, got[i])
			}
		}
	}
}
