//go:build cuda

package gpu_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/gpu"
)

// benchPlan holds the largest benchmark (attention B8 H16 T2048 D128 and
// the PG loss at N16384 V32768 with its logits chunks).
var benchPlan = gpu.PoolPlan{
	backend.Weights: 256 << 20, backend.Optim: 256 << 20, backend.Activations: 3 << 30,
	backend.KV: 64 << 20, backend.Replay: 64 << 20, gpu.Scratch: 2 << 30,
}

// fill uploads normal(0, s²) values into a new activations tensor.
func fill(e *gpu.Engine, rng *rand.Rand, dt backend.DType, s float64, shape ...int) backend.Tensor {
	t := e.Alloc(backend.Activations, dt, shape...)
	e.Upload(t, randn(rng, backend.Numel(shape), s))
	return t
}

// timeOps runs op b.N times after one warm-up and returns seconds per op.
func timeOps(b *testing.B, e *gpu.Engine, op func()) float64 {
	op()
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		op()
	}
	if err := e.Sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return time.Since(start).Seconds() / float64(b.N)
}

// BenchmarkAttention: causal attention forward + backward, bf16, B8 H16
// T2048 D128 (FLOPs: fwd 4·B·H·T²·D/2, fwd+bwd 3.5× that).
func BenchmarkAttention(b *testing.B) {
	e := open(b, benchPlan)
	rng := rand.New(rand.NewPCG(1, 1))
	const B, H, T, D = 8, 16, 2048, 128
	q := fill(e, rng, backend.BF16, 1, B, T, H, D)
	k := fill(e, rng, backend.BF16, 1, B, T, H, D)
	v := fill(e, rng, backend.BF16, 1, B, T, H, D)
	dy := fill(e, rng, backend.BF16, 1, B, T, H, D)
	out := e.Alloc(backend.Activations, backend.BF16, B, T, H, D)
	lse := e.Alloc(backend.Activations, backend.F32, B, H, T)
	dq := e.Alloc(backend.Activations, backend.BF16, B, T, H, D)
	dk := e.Alloc(backend.Activations, backend.BF16, B, T, H, D)
	dv := e.Alloc(backend.Activations, backend.BF16, B, T, H, D)
	p := backend.AttnParams{Heads: H, KVHeads: H, HeadDim: D}
	fwd := 4.0 * B * H * T * T * D / 2
	sec := timeOps(b, e, func() { e.AttentionForward(out, lse, q, k, v, p) })
	b.ReportMetric(fwd/sec/1e12, "fwd_TFLOP/s")
	sec = timeOps(b, e, func() {
		e.AttentionForward(out, lse, q, k, v, p)
		e.AttentionBackward(dq, dk, dv, dy, out, lse, q, k, v, p)
	})
	b.ReportMetric(3.5*fwd/sec/1e12, "TFLOP/s")
	b.ReportMetric(sec*1e3, "ms/fwdbwd")
}

// BenchmarkSampleTopP: temperature 1, top-p 0.9 over B256 × V151936 fp32.
func BenchmarkSampleTopP(b *testing.B) {
	e := open(b, benchPlan)
	rng := rand.New(rand.NewPCG(2, 2))
	const B, V = 256, 151936
	logits := fill(e, rng, backend.F32, 3, B, V)
	u := e.Alloc(backend.Activations, backend.F32, B)
	uv := make([]float32, B)
	for i := range uv {
		uv[i] = rng.Float32()
	}
	e.Upload(u, uv)
	tok := e.Alloc(backend.Activations, backend.I32, B)
	lp := e.Alloc(backend.Activations, backend.F32, B)
	sp := backend.SampleParams{Temperature: 1, TopP: 0.9}
	sec := timeOps(b, e, func() { e.Sample(tok, lp, logits, u, sp) })
	b.ReportMetric(sec*1e3, "ms/sample")
	b.ReportMetric(float64(B*V*4)/sec/1e9, "logitGB/s")
}

// BenchmarkPGLoss: fused LM head + clipped PG loss forward + backward,
// N16384 d768 V32768 bf16; reports the scratch it needed (the "extra
// memory" of the peers' max_memory_allocated delta).
func BenchmarkPGLoss(b *testing.B) {
	e := open(b, benchPlan)
	rng := rand.New(rand.NewPCG(3, 3))
	const N, d, V = 16384, 768, 32768
	hidden := fill(e, rng, backend.BF16, 1, N, d)
	head := fill(e, rng, backend.BF16, 0.05, V, d)
	targets := e.Alloc(backend.Activations, backend.I32, N)
	tv := make([]int32, N)
	for i := range tv {
		tv[i] = int32(rng.IntN(V))
	}
	e.UploadI32(targets, tv)
	adv := fill(e, rng, backend.F32, 1, N)
	old := fill(e, rng, backend.F32, 0.1, N)
	w := e.Alloc(backend.Activations, backend.F32, N)
	e.Fill(w, 1.0/N)
	outs := make([]backend.Tensor, 5)
	for i := range outs {
		outs[i] = e.Alloc(backend.Activations, backend.F32, N)
	}
	dh := e.Alloc(backend.Activations, backend.BF16, N, d)
	dw := e.Alloc(backend.Activations, backend.F32, V, d)
	in := backend.PGLossIn{Hidden: hidden, Head: head, Targets: targets, Adv: adv, OldLogp: old, Weight: w,
		Mode: backend.PGTokenClip, EpsLow: 0.2, EpsHigh: 0.2}
	o := backend.PGLossOut{Logp: outs[0], Entropy: outs[1], LSE: outs[2], Loss: outs[3], Coef: outs[4]}
	sec := timeOps(b, e, func() {
		e.PGLossForward(o, in)
		e.PGLossBackward(dh, dw, in, outs[2], outs[4])
	})
	b.ReportMetric(sec*1e3, "ms/fwdbwd")
	b.ReportMetric(4*2.0*N*d*V/sec/1e12, "TFLOP/s")
	for _, s := range e.PoolStats() {
		if s.Pool == gpu.Scratch {
			b.ReportMetric(float64(s.HighWater)/(1<<30), "extra_GiB")
		}
	}
}

// BenchmarkGEMM: 4096³ bf16 in, bf16 out, fp32 accumulate (cuBLAS).
func BenchmarkGEMM(b *testing.B) {
	e := open(b, benchPlan)
	rng := rand.New(rand.NewPCG(4, 4))
	const n = 4096
	x := fill(e, rng, backend.BF16, 1, n, n)
	y := fill(e, rng, backend.BF16, 1, n, n)
	c := e.Alloc(backend.Activations, backend.BF16, n, n)
	sec := timeOps(b, e, func() { e.MatMul(c, x, y, backend.MatMulParams{Alpha: 1}) })
	b.ReportMetric(2.0*n*n*n/sec/1e12, "TFLOP/s")
}
