package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
)

// opRun runs one op family on e with inputs drawn from a fixed seed and
// returns every output it wrote.
type opRun func(e *cpu.Engine) [][]float32

// upload allocates and fills an fp32 tensor from rng.
func upload(e *cpu.Engine, rng *rand.Rand, scale float64, shape ...int) backend.Tensor {
	t := e.Alloc(backend.Activations, backend.F32, shape...)
	x := make([]float32, t.Len())
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	e.Upload(t, x)
	return t
}

// ids allocates an I32 tensor of n ids below v.
func ids(e *cpu.Engine, rng *rand.Rand, n, v int) backend.Tensor {
	t := e.Alloc(backend.Activations, backend.I32, n)
	x := make([]int32, n)
	for i := range x {
		x[i] = int32(rng.IntN(v))
	}
	e.UploadI32(t, x)
	return t
}

// download returns the tensors' contents.
func download(e *cpu.Engine, ts ...backend.Tensor) [][]float32 {
	var out [][]float32
	for _, t := range ts {
		x := make([]float32, t.Len())
		e.Download(t, x)
		out = append(out, x)
	}
	return out
}

// determinismCases are op runs large enough to split over goroutines.
func determinismCases() map[string]opRun {
	return map[string]opRun{
		"matmul": func(e *cpu.Engine) [][]float32 {
			rng := rand.New(rand.NewPCG(1, 2))
			a, b := upload(e, rng, 1, 300, 150), upload(e, rng, 1, 200, 150)
			c := upload(e, rng, 1, 300, 200)
			e.MatMul(c, a, b, backend.MatMulParams{TransB: true, Alpha: 1, Beta: 0.5})
			w := upload(e, rng, 1, 300, 700)
			d := e.Alloc(backend.Activations, backend.F32, 150, 700)
			e.MatMul(d, a, w, backend.MatMulParams{TransA: true, Alpha: 1})
			return download(e, c, d)
		},
		"attention_backward": func(e *cpu.Engine) [][]float32 {
			rng := rand.New(rand.NewPCG(3, 4))
			const b, t, h, kvh, d = 2, 130, 4, 2, 16
			p := backend.AttnParams{Heads: h, KVHeads: kvh, HeadDim: d}
			q, k, v := upload(e, rng, 1, b, t, h, d), upload(e, rng, 1, b, t, kvh, d), upload(e, rng, 1, b, t, kvh, d)
			out, lse := e.Alloc(backend.Activations, backend.F32, b, t, h, d), e.Alloc(backend.Activations, backend.F32, b, h, t)
			e.AttentionForward(out, lse, q, k, v, p)
			dy := upload(e, rng, 1, b, t, h, d)
			dq, dk, dv := e.Alloc(backend.Activations, backend.F32, b, t, h, d), e.Alloc(backend.Activations, backend.F32, b, t, kvh, d), e.Alloc(backend.Activations, backend.F32, b, t, kvh, d)
			e.AttentionBackward(dq, dk, dv, dy, out, lse, q, k, v, p)
			return download(e, out, lse, dq, dk, dv)
		},
		"pgloss_backward": func(e *cpu.Engine) [][]float32 {
			rng := rand.New(rand.NewPCG(5, 6))
			const n, d, v = 600, 32, 700
			in := backend.PGLossIn{Hidden: upload(e, rng, 1, n, d), Head: upload(e, rng, 0.3, v, d),
				Targets: ids(e, rng, n, v), Mode: backend.PGNLL, Weight: upload(e, rng, 1, n), ChunkV: 256}
			outs := make([]backend.Tensor, 4)
			for i := range outs {
				outs[i] = e.Alloc(backend.Activations, backend.F32, n)
			}
			e.PGLossForward(backend.PGLossOut{Logp: outs[0], Entropy: outs[1], LSE: outs[2], Coef: outs[3]}, in)
			dh, dw := e.Alloc(backend.Activations, backend.F32, n, d), upload(e, rng, 1, v, d)
			e.PGLossBackward(dh, dw, in, outs[2], outs[3])
			return download(e, append(outs, dh, dw)...)
		},
		"embedding_rmsnorm_bias_backward": func(e *cpu.Engine) [][]float32 {
			rng := rand.New(rand.NewPCG(7, 8))
			const n, d, v = 2000, 64, 100
			dtab, dy := upload(e, rng, 1, v, d), upload(e, rng, 1, n, d)
			e.EmbeddingBackward(dtab, dy, ids(e, rng, n, v))
			x, w := upload(e, rng, 1, n, d), upload(e, rng, 1, d)
			out, rstd := e.Alloc(backend.Activations, backend.F32, n, d), e.Alloc(backend.Activations, backend.F32, n)
			e.RMSNormForward(out, rstd, x, w, 1e-5)
			dx, dw := e.Alloc(backend.Activations, backend.F32, n, d), upload(e, rng, 1, d)
			e.RMSNormBackward(dx, dw, dy, x, w, rstd)
			db := upload(e, rng, 1, d)
			e.BiasBackward(db, dy)
			ss := e.SumSquares(dtab, dx)
			return append(download(e, dtab, dx, dw, db), []float32{float32(ss), float32(ss - float64(float32(ss)))})
		},
	}
}

// TestThreadDeterminism checks that 1 and 3 threads give bitwise equal
// results.
func TestThreadDeterminism(t *testing.T) {
	for name, run := range determinismCases() {
		t.Run(name, func(t *testing.T) {
			e1, e3 := cpu.New(1), cpu.New(3)
			r1, r3 := run(e1), run(e3)
			if err := e1.Err(); err != nil {
				t.Fatal(err)
			}
			if err := e3.Err(); err != nil {
				t.Fatal(err)
			}
			for i := range r1 {
				for j := range r1[i] {
					if math.Float32bits(r1[i][j]) != math.Float32bits(r3[i][j]) {
						t.Fatalf("output %d [%d]: 1 thread %v, 3 threads %v", i, j, r1[i][j], r3[i][j])
					}
				}
			}
		})
	}
}
