package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchTensor allocates an fp32 tensor with random contents.
func benchTensor(e *Engine, rng *rand.Rand, scale float64, shape ...int) backend.Tensor {
	t := e.Alloc(backend.Activations, backend.F32, shape...)
	x := make([]float32, t.Len())
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	e.Upload(t, x)
	return t
}

// mmShapes are the benchmarked products m×k · k×n.
var mmShapes = []struct {
	name    string
	m, n, k int
	transB  bool
}{
	{"256x256x256", 256, 256, 256, false},
	{"1024x1024x1024", 1024, 1024, 1024, false},
	{"skinny_512x128x128", 512, 128, 128, false},
	{"linear_1024x128x128_NT", 1024, 128, 128, true},
	{"head_64x64x128_NT", 64, 64, 128, true},
	{"decode_256x128x128_NT", 256, 128, 128, true},
	{"decode_256x352x128_NT", 256, 352, 128, true},
}

// BenchmarkMatMul reports GFLOP/s of the engine's MatMul (its best kernel,
// all threads).
func BenchmarkMatMul(b *testing.B) {
	for _, s := range mmShapes {
		b.Run(s.name, func(b *testing.B) { benchMatMul(b, New(0), s.m, s.n, s.k, s.transB) })
	}
}

// BenchmarkMatMulKernels compares every micro-kernel this CPU runs (on
// one thread and on all) and gonum's Sgemm on the same shapes.
func BenchmarkMatMulKernels(b *testing.B) {
	for _, s := range mmShapes {
		for _, kern := range gemmKernels() {
			for _, threads := range []int{1, 0} {
				b.Run(fmt.Sprintf("%s/threads%d/%s", kern.name, threads, s.name), func(b *testing.B) {
					e := New(threads)
					e.kern = kern
					benchMatMul(b, e, s.m, s.n, s.k, s.transB)
				})
			}
		}
		b.Run("gonum/"+s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			a, bb, c := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
			tb, ldb := blas.NoTrans, s.n
			if s.transB {
				tb, ldb = blas.Trans, s.k
			}
			for b.Loop() {
				gonum.Implementation{}.Sgemm(blas.NoTrans, tb, s.m, s.n, s.k, 1, a, s.k, bb, ldb, 0, c, s.n)
			}
			reportGFLOPS(b, s.m, s.n, s.k)
		})
	}
}

func benchMatMul(b *testing.B, e *Engine, m, n, k int, transB bool) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := benchTensor(e, rng, 1, m, k)
	bt := benchTensor(e, rng, 1, k, n)
	if transB {
		bt = benchTensor(e, rng, 1, n, k)
	}
	c := e.Alloc(backend.Activations, backend.F32, m, n)
	p := backend.MatMulParams{TransB: transB, Alpha: 1}
	for b.Loop() {
		e.MatMul(c, a, bt, p)
	}
	if err := e.Err(); err != nil {
		b.Fatal(err)
	}
	reportGFLOPS(b, m, n, k)
}

func reportGFLOPS(b *testing.B, m, n, k int) {
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkAttention times forward and backward of causal GQA attention at
// the quickstart model's shape.
func BenchmarkAttention(b *testing.B) {
	for _, c := range []struct{ b, t, h, kvh, d int }{{8, 128, 4, 2, 32}, {4, 512, 4, 2, 32}} {
		e := New(0)
		rng := rand.New(rand.NewPCG(2, 2))
		p := backend.AttnParams{Heads: c.h, KVHeads: c.kvh, HeadDim: c.d}
		q := benchTensor(e, rng, 1, c.b, c.t, c.h, c.d)
		k, v := benchTensor(e, rng, 1, c.b, c.t, c.kvh, c.d), benchTensor(e, rng, 1, c.b, c.t, c.kvh, c.d)
		out, lse := e.Alloc(backend.Activations, backend.F32, c.b, c.t, c.h, c.d), e.Alloc(backend.Activations, backend.F32, c.b, c.h, c.t)
		dy := benchTensor(e, rng, 1, c.b, c.t, c.h, c.d)
		dq := e.Alloc(backend.Activations, backend.F32, c.b, c.t, c.h, c.d)
		dk, dv := e.Alloc(backend.Activations, backend.F32, c.b, c.t, c.kvh, c.d), e.Alloc(backend.Activations, backend.F32, c.b, c.t, c.kvh, c.d)
		name := fmt.Sprintf("B%d_T%d_H%d_KV%d_D%d", c.b, c.t, c.h, c.kvh, c.d)
		flops := float64(c.b*c.h*c.t*c.t*c.d) * 2 // QKᵀ and PV, causal half counted
		b.Run(name+"/forward", func(b *testing.B) {
			for b.Loop() {
				e.AttentionForward(out, lse, q, k, v, p)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(name+"/backward", func(b *testing.B) {
			for b.Loop() {
				e.AttentionBackward(dq, dk, dv, dy, out, lse, q, k, v, p)
			}
			b.ReportMetric(2.5*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPGLoss times the fused LM head + loss forward and backward.
func BenchmarkPGLoss(b *testing.B) {
	for _, c := range []struct{ n, d, v int }{{1024, 128, 64}, {1024, 128, 4096}} {
		e := New(0)
		rng := rand.New(rand.NewPCG(3, 3))
		tg := e.Alloc(backend.Activations, backend.I32, c.n)
		ids := make([]int32, c.n)
		for i := range ids {
			ids[i] = int32(rng.IntN(c.v))
		}
		e.UploadI32(tg, ids)
		in := backend.PGLossIn{Hidden: benchTensor(e, rng, 1, c.n, c.d), Head: benchTensor(e, rng, 0.1, c.v, c.d),
			Targets: tg, Adv: benchTensor(e, rng, 1, c.n), OldLogp: benchTensor(e, rng, 0.1, c.n),
			Weight: benchTensor(e, rng, 1, c.n), Mode: backend.PGTokenClip, EpsLow: 0.2, EpsHigh: 0.28}
		lse, coef := e.Alloc(backend.Activations, backend.F32, c.n), e.Alloc(backend.Activations, backend.F32, c.n)
		out := backend.PGLossOut{Logp: e.Alloc(backend.Activations, backend.F32, c.n), LSE: lse, Coef: coef,
			Entropy: e.Alloc(backend.Activations, backend.F32, c.n)}
		dh, dw := e.Alloc(backend.Activations, backend.F32, c.n, c.d), e.Alloc(backend.Activations, backend.F32, c.v, c.d)
		name := fmt.Sprintf("N%d_d%d_V%d", c.n, c.d, c.v)
		flops := 2 * float64(c.n*c.d*c.v)
		b.Run(name+"/forward", func(b *testing.B) {
			for b.Loop() {
				e.PGLossForward(out, in)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(name+"/backward", func(b *testing.B) {
			for b.Loop() {
				e.PGLossBackward(dh, dw, in, lse, coef)
			}
			b.ReportMetric(3*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if err := e.Err(); err != nil {
			b.Fatal(err)
		}
	}
}
