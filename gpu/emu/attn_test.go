//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/kernels"
)

// loadKernels loads every kernel of kernels/ through the default cache,
// which the engine's tests (package gpu) share.
func loadKernels(t *testing.T, reverse bool) (*Device, *Module) {
	t.Helper()
	d, err := Open(Options{Reverse: reverse})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	units := map[string]string{}
	for _, n := range kernels.Names() {
		units[n] = kernels.Sources()[n]
	}
	m, err := d.Load(units, kernels.Headers())
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

// attnRef is causal GQA attention in float64: out [B,T,H,D], lse [B,H,T]
// and the gradients for dout.
func attnRef(q, k, v, dout []float64, B, T, H, KVH, D int, scale float64) (out, lse, dq, dk, dv []float64) {
	out, lse = make([]float64, len(q)), make([]float64, B*H*T)
	dq, dk, dv = make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	qi := func(b, t, h int) int { return ((b*T+t)*H + h) * D }
	ki := func(b, t, h int) int { return ((b*T+t)*KVH + h) * D }
	for b := range B {
		for h := range H {
			kh := h / (H / KVH)
			for i := range T {
				s := make([]float64, i+1)
				m := math.Inf(-1)
				for j := 0; j <= i; j++ {
					var dot float64
					for d := range D {
						dot += q[qi(b, i, h)+d] * k[ki(b, j, kh)+d]
					}
					s[j] = dot * scale
					m = math.Max(m, s[j])
				}
				var l float64
				for j := range s {
					s[j] = math.Exp(s[j] - m)
					l += s[j]
				}
				lse[(b*H+h)*T+i] = m + math.Log(l)
				for j := range s {
					s[j] /= l // p_ij
					for d := range D {
						out[qi(b, i, h)+d] += s[j] * v[ki(b, j, kh)+d]
					}
				}
				var dvec float64
				for d := range D {
					dvec += dout[qi(b, i, h)+d] * out[qi(b, i, h)+d]
				}
				for j := range s {
					var dp float64
					for d := range D {
						dp += dout[qi(b, i, h)+d] * v[ki(b, j, kh)+d]
					}
					ds := s[j] * (dp - dvec)
					for d := range D {
						dq[qi(b, i, h)+d] += scale * ds * k[ki(b, j, kh)+d]
						dk[ki(b, j, kh)+d] += scale * ds * q[qi(b, i, h)+d]
						dv[ki(b, j, kh)+d] += s[j] * dout[qi(b, i, h)+d]
					}
				}
			}
		}
	}
	return
}

// relErr is max |got - want| / max |want|.
func relErr(got []float32, want []float64) float64 {
	var e, m float64
	for i, w := range want {
		e = math.Max(e, math.Abs(float64(got[i])-w))
		m = math.Max(m, math.Abs(w))
	}
	return e / m
}

// TestAttentionTensorCore runs the bf16 tensor-core attention kernels
// (the H100 path: mma.m16n8k16 through common.cuh's fragment loaders) and
// the fp32 kernels at a length that is not a multiple of the 64-row tile,
// with GQA, against a float64 reference.
func TestAttentionTensorCore(t *testing.T) {
	const B, T, H, KVH = 1, 70, 4, 2
	for _, D := range []int{64, 128} {
		t.Run(fmt.Sprint("d", D), func(t *testing.T) {
			d, m := loadKernels(t, D == 128)
			rng := rand.New(rand.NewPCG(uint64(D), 9))
			nq, nk := B*T*H*D, B*T*KVH*D
			mk := func(n int) (buf, []float64) {
				b := alloc(t, d, int64(n)*2)
				vals := make([]float64, n)
				for i := range vals {
					h := BF16Bits(float32(rng.NormFloat64()))
					b.u16()[i] = h
					vals[i] = float64(bf16Float(h))
				}
				return b, vals
			}
			q, qv := mk(nq)
			k, kv := mk(nk)
			v, vv := mk(nk)
			dout, dov := mk(nq)
			scale := float32(1 / math.Sqrt(float64(D)))
			out, lse := alloc(t, d, int64(nq)*4), alloc(t, d, B*H*T*4)
			dvec := alloc(t, d, B*H*T*4)
			dq, dk, dv := alloc(t, d, int64(nq)*4), alloc(t, d, int64(nk)*4), alloc(t, d, int64(nk)*4)
			ro, rl, rdq, rdk, rdv := attnRef(qv, kv, vv, dov, B, T, H, KVH, D, float64(scale))
			tiles := (T + 63) / 64
			run := func(name string, grid [3]int, block, smem int, a *argv) {
				t.Helper()
				kern, err := m.Kernel(name)
				if err != nil {
					t.Fatal(err)
				}
				if smem > DefaultDynShared {
					if err := kern.SetMaxDynamicShared(smem); err != nil {
						t.Fatal(err)
					}
				}
				if err := d.Launch(kern, grid, [3]int{block, 1, 1}, smem, a.ptr()); err != nil {
					t.Fatal(err)
				}
			}
			check := func(what string, got []float32, want []float64, tol float64) {
				t.Helper()
				if e := relErr(got, want); e > tol || math.IsNaN(e) {
					t.Errorf("%s: relative error %.3g > %.3g", what, e, tol)
				} else {
					t.Logf("%s: relative error %.3g", what, e)
				}
			}
			// tensor cores: P and dS are rounded to bf16 before their mma
			run(fmt.Sprintf("attn_fwd_bf16_d%d", D), [3]int{tiles, B * H, 1}, 128, 2*64*(D+8)*2,
				args(out, 0, lse, q, k, v, B, T, H, KVH, scale))
			check("tc out", out.f32(), ro, 5e-3)
			check("tc lse", lse.f32(), rl, 1e-5)
			run("attn_bwd_dvec", [3]int{(B*T*H + 7) / 8, 1, 1}, 256, 0, args(dvec, dout, 1, out, 0, B, T, H, D))
			run(fmt.Sprintf("attn_bwd_dq_bf16_d%d", D), [3]int{tiles, B * H, 1}, 128, 2*64*(D+8)*2,
				args(dq, 0, dout, q, k, v, lse, dvec, B, T, H, KVH, scale))
			run(fmt.Sprintf("attn_bwd_dkv_bf16_d%d", D), [3]int{tiles, B * KVH, 1}, 128, 4*64*(D+8)*2+2*64*4,
				args(dk, dv, 0, dout, q, k, v, lse, dvec, B, T, H, KVH, scale))
			check("tc dq", dq.f32(), rdq, 1e-2)
			check("tc dk", dk.f32(), rdk, 1e-2)
			check("tc dv", dv.f32(), rdv, 1e-2)
			// the fp32 kernels on the same bf16 inputs
			const aw, akt = 8, 32
			run("attn_fwd_f32", [3]int{(T + aw - 1) / aw, B * H, 1}, aw*32, (2*akt*(D+1)+aw*D)*4,
				args(out, 0, lse, q, k, v, 1, B, T, H, KVH, D, scale))
			check("f32 out", out.f32(), ro, 1e-5)
			check("f32 lse", lse.f32(), rl, 1e-5)
			run("attn_bwd_dvec", [3]int{(B*T*H + 7) / 8, 1, 1}, 256, 0, args(dvec, dout, 1, out, 0, B, T, H, D))
			run("attn_bwd_dq_f32", [3]int{(T + aw - 1) / aw, B * H, 1}, aw*32, (2*akt*(D+1)+2*aw*D)*4,
				args(dq, 0, dout, 1, q, k, v, 1, lse, dvec, B, T, H, KVH, D, scale))
			run("attn_bwd_dkv_f32", [3]int{(T + aw - 1) / aw, B * KVH, 1}, aw*32, (2*akt*(D+1)+2*akt+2*aw*D)*4,
				args(dk, dv, 0, dout, 1, q, k, v, 1, lse, dvec, B, T, H, KVH, D, scale))
			check("f32 dq", dq.f32(), rdq, 1e-4)
			check("f32 dk", dk.f32(), rdk, 1e-4)
			check("f32 dv", dv.f32(), rdv, 1e-4)
		})
	}
}
