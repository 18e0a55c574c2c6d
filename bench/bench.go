// Package bench is the benchmark suite behind `train bench`: CPU engine
// throughput, the GPU kernels, and end to end (train's own SFT step and
// optimizer, generation, RL steps through train.Run) on either engine.
package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/model"
)

// Result is one measured figure.
type Result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
}

// Print writes results as an aligned table.
func Print(w io.Writer, rs []Result) {
	for _, r := range rs {
		fmt.Fprintf(w, "%-44s %12.2f %-10s %s\n", r.Name, r.Value, r.Unit, r.Note)
	}
}

// timeIt runs f until at least minDur has passed (after one warm-up call)
// and returns seconds per call.
func timeIt(f func() error, minDur time.Duration) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	n := 0
	t0 := time.Now()
	for time.Since(t0) < minDur || n < 2 {
		if err := f(); err != nil {
			return 0, err
		}
		n++
	}
	return time.Since(t0).Seconds() / float64(n), nil
}

func randTensor(be backend.Backend, rng *rand.Rand, shape ...int) backend.Tensor {
	t := be.Alloc(backend.Activations, backend.F32, shape...)
	v := make([]float32, backend.Numel(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	be.Upload(t, v)
	return t
}

// CPU measures matmul GFLOP/s at three shapes, and forward+backward
// training tokens/s and decode tokens/s of the "small" preset.
func CPU(be backend.Backend) ([]Result, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []Result
	for _, s := range [][3]int{{256, 256, 256}, {1024, 1024, 1024}, {2048, 128, 128}, {1024, 128, 512}} {
		M, K, N := s[0], s[1], s[2]
		a, b := randTensor(be, rng, M, K), randTensor(be, rng, N, K)
		c := be.Alloc(backend.Activations, backend.F32, M, N)
		sec, err := timeIt(func() error {
			be.MatMul(c, a, b, backend.MatMulParams{TransB: true, Alpha: 1})
			return be.Sync()
		}, 300*time.Millisecond)
		if err != nil {
			return nil, err
		}
		out = append(out, Result{Name: fmt.Sprintf("matmul %dx%d · (%dx%d)ᵀ", M, K, N, K), Value: 2 * float64(M*N*K) / sec / 1e9, Unit: "GFLOP/s"})
		be.ResetPool(backend.Activations)
	}
	tr, err := trainTokens(be, rng)
	if err != nil {
		return nil, err
	}
	out = append(out, tr...)
	return out, nil
}

// trainTokens times one SFT-shaped step (forward, fused loss, backward) and
// a batched decode step of the "small" preset.
func trainTokens(be backend.Backend, rng *rand.Rand) ([]Result, error) {
	cfg, err := model.Preset("small", 64)
	if err != nil {
		return nil, err
	}
	m, err := model.New(be, cfg, 1)
	if err != nil {
		return nil, err
	}
	m.EnsureTrainState() // gradients for the backward pass
	const B, T = 32, 40
	ids := make([]int32, B*T)
	for i := range ids {
		ids[i] = int32(rng.IntN(cfg.Vocab))
	}
	step := func() error {
		m.ZeroGrads()
		acts, err := m.Forward(ids, B, T)
		if err != nil {
			return err
		}
		N := B * T
		f := func() backend.Tensor { return be.Alloc(backend.Activations, backend.F32, N) }
		tg := be.Alloc(backend.Activations, backend.I32, N)
		be.UploadI32(tg, ids)
		w := f()
		be.Fill(w, 1/float32(N))
		in := backend.PGLossIn{Hidden: acts.Hidden(), Head: m.Head(), Targets: tg, Adv: f(), OldLogp: f(), Weight: w, Mode: backend.PGNLL}
		out := backend.PGLossOut{Logp: f(), Entropy: f(), LSE: f(), Loss: f(), Coef: f(), Clip: f(), KL: f()}
		be.PGLossForward(out, in)
		dh := be.Alloc(backend.Activations, backend.F32, N, cfg.Dim)
		be.PGLossBackward(dh, m.HeadGrad(), in, out.LSE, out.Coef)
		if err := m.Backward(acts, dh); err != nil {
			return err
		}
		be.ResetPool(backend.Activations)
		return be.Sync()
	}
	sec, err := timeIt(step, time.Second)
	if err != nil {
		return nil, err
	}
	res := []Result{{Name: fmt.Sprintf("train fwd+bwd, small preset, B%d×T%d", B, T), Value: B * T / sec, Unit: "tokens/s",
		Note: fmt.Sprintf("%.2f GFLOP/s model", 6*float64(cfg.NumParams())*B*T/sec/1e9)}}
	cache, err := m.NewKVCache(256, 16)
	if err != nil {
		return nil, err
	}
	const nseq = 128
	seqs := make([]model.SeqID, nseq)
	toks := make([]int32, nseq)
	for i := range seqs {
		seqs[i] = cache.NewSeq()
	}
	pos := 0
	dsec, err := timeIt(func() error {
		if pos >= 30 {
			for i := range seqs {
				cache.Release(seqs[i])
				seqs[i] = cache.NewSeq()
			}
			pos = 0
		}
		pos++
		_, err := m.Step(cache, seqs, toks)
		be.ResetPool(backend.Activations)
		if err != nil {
			return err
		}
		return be.Sync()
	}, time.Second)
	if err != nil {
		return nil, err
	}
	res = append(res, Result{Name: fmt.Sprintf("decode step, small preset, %d sequences", nseq), Value: nseq / dsec, Unit: "tokens/s"})
	return res, nil
}
