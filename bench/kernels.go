package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/memplan"
)

// KernelShapes sizes `train bench kernels`: the ops the GPU targets name,
// timed through backend.Backend on any engine.
type KernelShapes struct {
	// GEMM is an n×n×n matmul.
	GEMM int `json:"gemm"`
	// Attention fwd+bwd at B, H, T, D (causal).
	AttnB, AttnH, AttnT, AttnD int
	// Top-p 0.9 sampling over Rows × Vocab logits.
	SampleRows, SampleVocab int
	// PG loss fwd+bwd at N tokens, hidden Dim, vocabulary V.
	LossN, LossDim, LossV int
	// DType of the GEMM, attention and loss operands.
	DType backend.DType
	// MinTime is how long each op is repeated (after one warm-up).
	MinTime time.Duration
}

// KernelDefaults returns the GPU report's shapes on "cuda" (bf16) and
// shapes that take a few seconds on the CPU engine (fp32) otherwise.
func KernelDefaults(device string) KernelShapes {
	if device == "cuda" {
		return KernelShapes{GEMM: 4096, AttnB: 8, AttnH: 16, AttnT: 2048, AttnD: 128, SampleRows: 256, SampleVocab: 151936,
			LossN: 16384, LossDim: 768, LossV: 32768, DType: backend.BF16, MinTime: time.Second}
	}
	return KernelShapes{GEMM: 512, AttnB: 2, AttnH: 4, AttnT: 256, AttnD: 32, SampleRows: 32, SampleVocab: 8192,
		LossN: 512, LossDim: 128, LossV: 2048, DType: backend.F32, MinTime: 300 * time.Millisecond}
}

// KernelPlan sizes the GPU pools for Kernels: every operand in the
// activations pool (fp32 upper bound), the loss's logits chunks in 2 GiB of
// scratch, and the other pools at memplan.Operands's minimum.
func KernelPlan(s KernelShapes) backend.PoolPlan {
	g := 3 * int64(s.GEMM) * int64(s.GEMM)
	attn := 8*int64(s.AttnB)*int64(s.AttnT)*int64(s.AttnH)*int64(s.AttnD) + int64(s.AttnB*s.AttnH*s.AttnT)
	smp := int64(s.SampleRows) * int64(s.SampleVocab)
	loss := 2*int64(s.LossN)*int64(s.LossDim) + 2*int64(s.LossV)*int64(s.LossDim) + 10*int64(s.LossN)
	return memplan.Operands(4*(g+attn+smp+loss), 2<<30)
}

// Kernels times GEMM, causal attention fwd+bwd, top-p sampling and the
// fused PG loss fwd+bwd on be. FLOP conventions as GPU.md: attention fwd
// 4·B·H·T²·D/2, fwd+bwd 3.5× that; the loss 4·2·N·d·V.
func Kernels(be backend.Backend, s KernelShapes) ([]Result, error) {
	if s.GEMM < 1 || s.AttnB < 1 || s.AttnH < 1 || s.AttnT < 1 || s.AttnD < 2 || s.SampleRows < 1 || s.SampleVocab < 2 ||
		s.LossN < 1 || s.LossDim < 1 || s.LossV < 2 {
		return nil, fmt.Errorf("bench kernels: every shape must be positive: %+v", s)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	rnd := func(dt backend.DType, scale float64, shape ...int) backend.Tensor {
		t := be.Alloc(backend.Activations, dt, shape...)
		v := make([]float32, backend.Numel(shape))
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		be.Upload(t, v)
		return t
	}
	var out []Result
	timeOp := func(name string, op func()) (float64, error) {
		sec, err := timeIt(func() error { op(); return be.Sync() }, s.MinTime)
		if err != nil {
			return 0, fmt.Errorf("bench kernels %s: %w", name, err)
		}
		return sec, nil
	}
	dt := s.DType

	n := s.GEMM
	x, y, c := rnd(dt, 1, n, n), rnd(dt, 1, n, n), be.Alloc(backend.Activations, dt, n, n)
	sec, err := timeOp("gemm", func() { be.MatMul(c, x, y, backend.MatMulParams{Alpha: 1}) })
	if err != nil {
		return nil, err
	}
	out = append(out, Result{Name: fmt.Sprintf("GEMM %d³ %s", n, dt), Value: 2 * float64(n) * float64(n) * float64(n) / sec / 1e12, Unit: "TFLOP/s"})
	be.ResetPool(backend.Activations)

	B, H, T, D := s.AttnB, s.AttnH, s.AttnT, s.AttnD
	q, k, v, dy := rnd(dt, 1, B, T, H, D), rnd(dt, 1, B, T, H, D), rnd(dt, 1, B, T, H, D), rnd(dt, 1, B, T, H, D)
	o := be.Alloc(backend.Activations, dt, B, T, H, D)
	lse := be.Alloc(backend.Activations, backend.F32, B, H, T)
	dq, dk, dv := be.Alloc(backend.Activations, dt, B, T, H, D), be.Alloc(backend.Activations, dt, B, T, H, D), be.Alloc(backend.Activations, dt, B, T, H, D)
	ap := backend.AttnParams{Heads: H, KVHeads: H, HeadDim: D}
	fwd := 4 * float64(B) * float64(H) * float64(T) * float64(T) * float64(D) / 2
	if sec, err = timeOp("attention", func() {
		be.AttentionForward(o, lse, q, k, v, ap)
		be.AttentionBackward(dq, dk, dv, dy, o, lse, q, k, v, ap)
	}); err != nil {
		return nil, err
	}
	out = append(out, Result{Name: fmt.Sprintf("attention fwd+bwd B%d H%d T%d D%d %s", B, H, T, D, dt), Value: 3.5 * fwd / sec / 1e12,
		Unit: "TFLOP/s", Note: fmt.Sprintf("%.3f ms", sec*1e3)})
	be.ResetPool(backend.Activations)

	logits := rnd(backend.F32, 3, s.SampleRows, s.SampleVocab)
	u := be.Alloc(backend.Activations, backend.F32, s.SampleRows)
	uv := make([]float32, s.SampleRows)
	for i := range uv {
		uv[i] = rng.Float32()
	}
	be.Upload(u, uv)
	tok := be.Alloc(backend.Activations, backend.I32, s.SampleRows)
	lp := be.Alloc(backend.Activations, backend.F32, s.SampleRows)
	if sec, err = timeOp("sample", func() {
		be.Sample(tok, lp, logits, u, backend.SampleParams{Temperature: 1, TopP: 0.9})
	}); err != nil {
		return nil, err
	}
	out = append(out, Result{Name: fmt.Sprintf("top-p 0.9 sampling B%d × V%d", s.SampleRows, s.SampleVocab), Value: sec * 1e3, Unit: "ms"})
	be.ResetPool(backend.Activations)

	N, d, V := s.LossN, s.LossDim, s.LossV
	hidden, head := rnd(dt, 1, N, d), rnd(dt, 0.05, V, d)
	targets := be.Alloc(backend.Activations, backend.I32, N)
	tv := make([]int32, N)
	for i := range tv {
		tv[i] = int32(rng.IntN(V))
	}
	be.UploadI32(targets, tv)
	adv, old := rnd(backend.F32, 1, N), rnd(backend.F32, 0.1, N)
	w := be.Alloc(backend.Activations, backend.F32, N)
	be.Fill(w, 1/float32(N))
	f := func() backend.Tensor { return be.Alloc(backend.Activations, backend.F32, N) }
	in := backend.PGLossIn{Hidden: hidden, Head: head, Targets: targets, Adv: adv, OldLogp: old, Weight: w,
		Mode: backend.PGTokenClip, EpsLow: 0.2, EpsHigh: 0.2}
	po := backend.PGLossOut{Logp: f(), Entropy: f(), LSE: f(), Loss: f(), Coef: f(), Clip: f(), KL: f()}
	dh := be.Alloc(backend.Activations, dt, N, d)
	dw := be.Alloc(backend.Activations, backend.F32, V, d)
	if sec, err = timeOp("pg loss", func() {
		be.PGLossForward(po, in)
		be.PGLossBackward(dh, dw, in, po.LSE, po.Coef)
	}); err != nil {
		return nil, err
	}
	out = append(out, Result{Name: fmt.Sprintf("PG loss fwd+bwd N%d d%d V%d %s", N, d, V, dt), Value: sec * 1e3, Unit: "ms",
		Note: fmt.Sprintf("%.2f TFLOP/s", 8*float64(N)*float64(d)*float64(V)/sec/1e12)})
	be.ResetPool(backend.Activations)
	return out, be.Err()
}
