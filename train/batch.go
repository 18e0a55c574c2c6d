package train

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/model"
)

// Seq is one training sequence: a context (prompt in policy or repair mode)
// followed by a response whose tokens are scored. Per response token (the
// trailing EOS included when Finished) it carries the advantage, the loss
// weight (gate × normaliser) and the behaviour / reference log-probs.
type Seq struct {
	Context  []int32
	Response []int32 // response tokens, EOS included when present
	Adv      []float32
	Weight   []float32
	OldLogp  []float32 // nil → filled by a no-grad forward (π_old)
	RefLogp  []float32 // nil → no KL term
	IS       []float32 // truncated importance weights of replayed tokens (nil → 1)
}

// batchTensors lays a list of sequences out as one right-padded batch and
// uploads the per-token arrays. Position P−1+j predicts response token j.
type batchTensors struct {
	B, T                           int
	ids                            []int32
	targets, adv, old, ref, weight backend.Tensor
	index                          [][]int // index[s][j] = flat position of response token j of seq s
	hasRef                         bool
}

func buildBatch(be backend.Backend, seqs []Seq) (*batchTensors, error) {
	if len(seqs) == 0 {
		return nil, fmt.Errorf("empty batch")
	}
	T := 0
	for _, s := range seqs {
		if n := len(s.Context) + len(s.Response); n > T {
			T = n
		}
	}
	B := len(seqs)
	N := B * T
	bt := &batchTensors{B: B, T: T, ids: make([]int32, N), index: make([][]int, B)}
	tg := make([]int32, N)
	adv := make([]float32, N)
	old := make([]float32, N)
	ref := make([]float32, N)
	w := make([]float32, N)
	for s, q := range seqs {
		row := s * T
		copy(bt.ids[row:], q.Context)
		copy(bt.ids[row+len(q.Context):], q.Response)
		P := len(q.Context)
		bt.index[s] = make([]int, len(q.Response))
		for j, tok := range q.Response {
			pos := row + P - 1 + j
			bt.index[s][j] = pos
			tg[pos] = tok
			if q.Adv != nil {
				adv[pos] = q.Adv[j]
			}
			if q.Weight != nil {
				w[pos] = q.Weight[j]
			}
			if q.OldLogp != nil {
				old[pos] = q.OldLogp[j]
			}
			if q.RefLogp != nil {
				ref[pos] = q.RefLogp[j]
				bt.hasRef = true
			}
		}
	}
	a := func(dt backend.DType) backend.Tensor { return be.Alloc(backend.Activations, dt, N) }
	bt.targets = a(backend.I32)
	be.UploadI32(bt.targets, tg)
	bt.adv, bt.old, bt.weight = a(backend.F32), a(backend.F32), a(backend.F32)
	be.Upload(bt.adv, adv)
	be.Upload(bt.old, old)
	be.Upload(bt.weight, w)
	if bt.hasRef {
		bt.ref = a(backend.F32)
		be.Upload(bt.ref, ref)
	}
	return bt, be.Err()
}

// gather picks per-response-token values out of a flat [N] array.
func (bt *batchTensors) gather(flat []float32) [][]float32 {
	out := make([][]float32, len(bt.index))
	for s, idx := range bt.index {
		out[s] = make([]float32, len(idx))
		for j, p := range idx {
			out[s][j] = flat[p]
		}
	}
	return out
}

// lossOut is what one loss pass returns to the host.
type lossOut struct {
	loss                    float64 // Σ_t Loss_t
	logp, entropy, clip, kl [][]float32
	hidden                  backend.DType // of the final hidden state
}

// forwardLoss runs the model forward and the fused PG loss over a batch.
// With backward it also accumulates gradients (the caller zeroes them).
// coefFn, when set, replaces the op's per-token Coef (sequence-level losses
// such as GSPO): it gets the per-token log-probs and returns ∂L/∂logp.
func forwardLoss(m *model.Model, seqs []Seq, mode backend.PGMode, eps [2]float32, beta float32,
	backward bool, coefFn func(logp [][]float32) ([][]float32, float64, error)) (*lossOut, error) {
	be := m.B
	bt, err := buildBatch(be, seqs)
	if err != nil {
		return nil, err
	}
	acts, err := m.Forward(bt.ids, bt.B, bt.T)
	if err != nil {
		return nil, err
	}
	N := bt.B * bt.T
	f := func() backend.Tensor { return be.Alloc(backend.Activations, backend.F32, N) }
	out := backend.PGLossOut{Logp: f(), Entropy: f(), LSE: f(), Loss: f(), Coef: f(), Clip: f(), KL: f()}
	in := backend.PGLossIn{Hidden: acts.Hidden(), Head: m.Head(), Targets: bt.targets,
		Adv: bt.adv, OldLogp: bt.old, Weight: bt.weight, Mode: mode,
		EpsLow: eps[0], EpsHigh: eps[1], Beta: beta}
	if bt.hasRef {
		in.RefLogp = bt.ref
	}
	be.PGLossForward(out, in)
	host := func(t backend.Tensor) []float32 {
		v := make([]float32, N)
		be.Download(t, v)
		return v
	}
	logp := host(out.Logp)
	lo := &lossOut{logp: bt.gather(logp), entropy: bt.gather(host(out.Entropy)),
		clip: bt.gather(host(out.Clip)), kl: bt.gather(host(out.KL)), hidden: acts.Hidden().DType()}
	lossFlat := host(out.Loss)
	if coefFn != nil {
		coef, l, err := coefFn(lo.logp)
		if err != nil {
			return nil, err
		}
		flat := make([]float32, N)
		for s, idx := range bt.index {
			for j, p := range idx {
				flat[p] = coef[s][j]
			}
		}
		be.Upload(out.Coef, flat)
		lo.loss = l
	} else {
		// Padding rows have weight 0, so their loss is 0.
		for _, idx := range bt.index {
			for _, p := range idx {
				lo.loss += float64(lossFlat[p])
			}
		}
	}
	if err := be.Err(); err != nil {
		return nil, err
	}
	if backward {
		dh := be.Alloc(backend.Activations, backend.F32, N, m.Cfg.Dim)
		be.PGLossBackward(dh, m.HeadGrad(), in, out.LSE, out.Coef)
		if err := m.Backward(acts, dh); err != nil {
			return nil, err
		}
	}
	return lo, be.Err()
}
