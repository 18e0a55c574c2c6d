//go:build cudaemu

package emu

import (
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/kernels"
)

const shflSrc = `
// out[k*64 + t] for k = idx, xor, down, up, width-8 idx, double xor, and
// width-8 xor, down, up; 64 threads (2 warps).
extern "C" __global__ void shfl(const float* x, const int* arg, float* out, unsigned* ballot) {
  int t = threadIdx.x;
  float v = x[t];
  int a = arg[t];
  out[0 * 64 + t] = __shfl_sync(0xffffffffu, v, a);
  out[1 * 64 + t] = __shfl_xor_sync(0xffffffffu, v, a & 31);
  out[2 * 64 + t] = __shfl_down_sync(0xffffffffu, v, a & 7);
  out[3 * 64 + t] = __shfl_up_sync(0xffffffffu, v, a & 7);
  out[4 * 64 + t] = __shfl_sync(0xffffffffu, v, a, 8);
  double dv = (double)v * 3.0;
  out[5 * 64 + t] = (float)__shfl_xor_sync(0xffffffffu, dv, 5);
  out[6 * 64 + t] = __shfl_xor_sync(0xffffffffu, v, 9, 8);
  out[7 * 64 + t] = __shfl_down_sync(0xffffffffu, v, 3, 8);
  out[8 * 64 + t] = __shfl_up_sync(0xffffffffu, v, 3, 8);
  ballot[t] = __ballot_sync(0xffffffffu, v > 0.f);
}
`

func TestShuffles(t *testing.T) {
	for _, rev := range []bool{false, true} {
		d, m := open(t, rev, shflSrc)
		x, arg := alloc(t, d, 64*4), alloc(t, d, 64*4)
		out, bal := alloc(t, d, 9*64*4), alloc(t, d, 64*4)
		rng := rand.New(rand.NewPCG(3, 4))
		xs, as := x.f32(), arg.u32()
		for i := range 64 {
			xs[i] = float32(rng.NormFloat64())
			as[i] = uint32(rng.IntN(64))
		}
		if err := launch(d, m, "shfl", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, args(x, arg, out, bal)); err != nil {
			t.Fatal(err)
		}
		o := out.f32()
		for l := range 64 {
			w, lane := l/32*32, l%32
			a := int(as[l])
			seg8 := lane / 8 * 8
			want := []float32{
				xs[w+a%32],
				xs[w+(lane^(a&31))],
				xs[l],
				xs[l],
				xs[w+seg8+a%8],
				float32(float64(xs[w+(lane^5)]) * 3),
				xs[l], xs[l], xs[l],
			}
			// width 8: xor may read an earlier segment, not a later one;
			// down and up stay inside the segment (else the own value)
			if x := lane ^ 9; x/8 <= lane/8 {
				want[6] = xs[w+x]
			}
			if lane%8+3 < 8 {
				want[7] = xs[l+3]
			}
			if lane%8 >= 3 {
				want[8] = xs[l-3]
			}
			if lane+(a&7) < 32 {
				want[2] = xs[l+(a&7)]
			}
			if lane-(a&7) >= 0 {
				want[3] = xs[l-(a&7)]
			}
			for k, wv := range want {
				if o[k*64+l] != wv {
					t.Errorf("reverse=%v kind %d lane %d: %v, want %v", rev, k, l, o[k*64+l], wv)
				}
			}
			var b uint32
			for i := range 32 {
				if xs[w+i] > 0 {
					b |= 1 << i
				}
			}
			if bal.u32()[l] != b {
				t.Errorf("ballot lane %d: %#x, want %#x", l, bal.u32()[l], b)
			}
		}
	}
}

// mmaSrc multiplies A (16x16, row-major) by B (16x8, stored as Bt[n][k])
// with one mma16816, loading the fragments with common.cuh's frag_a and
// frag_b_nk, and stores D (16x8 fp32) with the C-fragment layout.
const mmaSrc = `#include "common.cuh"
extern "C" __global__ void mma(const unsigned short* A, const unsigned short* Bt, const float* C, float* D) {
  int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  unsigned a[4], b0, b1;
  frag_a(a, A, 16, 0, 0);
  frag_b_nk(b0, b1, Bt, 16, 0, 0);
  float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  mma16816(c, a, b0, b1);
  D[g * 8 + 2 * t] = c[0];
  D[g * 8 + 2 * t + 1] = c[1];
  D[(g + 8) * 8 + 2 * t] = c[2];
  D[(g + 8) * 8 + 2 * t + 1] = c[3];
}
`

func TestMMA16816(t *testing.T) {
	d, err := Open(Options{CacheDir: testCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, err := d.Load(map[string]string{"mma.cu": mmaSrc}, kernels.Headers())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 4 {
		A, Bt := alloc(t, d, 16*16*2), alloc(t, d, 8*16*2)
		C, D := alloc(t, d, 16*8*4), alloc(t, d, 16*8*4)
		for i := range A.u16() {
			A.u16()[i] = BF16Bits(float32(rng.NormFloat64()))
		}
		for i := range Bt.u16() {
			Bt.u16()[i] = BF16Bits(float32(rng.NormFloat64()))
		}
		for i := range C.f32() {
			C.f32()[i] = float32(rng.NormFloat64())
		}
		if err := launch(d, m, "mma", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, args(A, Bt, C, D)); err != nil {
			t.Fatal(err)
		}
		for i := range 16 {
			for j := range 8 {
				s := float64(C.f32()[i*8+j])
				for k := range 16 {
					s += float64(bf16Float(A.u16()[i*16+k])) * float64(bf16Float(Bt.u16()[j*16+k]))
				}
				if got := D.f32()[i*8+j]; got != float32(s) {
					t.Fatalf("trial %d D(%d,%d) = %v, want %v", trial, i, j, got, float32(s))
				}
			}
		}
	}
}
