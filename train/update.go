package train

import (
	"fmt"
	"math"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/supervise"
)

// update runs μ epochs over minibatches of the step's sequences: the policy
// loss on st.seqs plus λ_rep times the repair loss on st.rep (SIRL).
func (e *env) update(st *rlStep, opt *Optimizer, ref *model.Model, row map[string]any) error {
	c := e.cfg.RL
	seqs := st.seqs
	// π_old: with one epoch and one minibatch π_old = θ, so the op's
	// ratio is 1 and the detached log-probs of the same forward serve
	// (as TRL does); otherwise a no-grad forward records them first.
	needOld := c.NumIterations > 1 || c.Minibatches > 1
	for _, set := range [][]Seq{seqs, st.rep} {
		if len(set) == 0 || (!needOld && !st.seqClip) {
			continue
		}
		lp, err := e.chunkedLogp(e.m, set)
		if err != nil {
			return err
		}
		for i := range set {
			if set[i].OldLogp == nil {
				set[i].OldLogp = lp[i]
			}
		}
	}
	if ref != nil && len(seqs) > 0 {
		lp, err := e.chunkedLogp(ref, seqs)
		if err != nil {
			return err
		}
		for i := range seqs {
			seqs[i].RefLogp = lp[i]
		}
	}
	// Minibatches split the step's batch over all ranks, in rank order.
	polAt, err := e.globalOffset(len(seqs))
	if err != nil {
		return err
	}
	repAt, err := e.globalOffset(len(st.rep))
	if err != nil {
		return err
	}
	eps := [2]float32{float32(c.Epsilon), float32(c.EpsilonHigh)}
	var sumLoss, sumEnt, nEnt, clipLo, clipHi, nTok, kl, gnorm, lr float64
	trained := 0
	for epoch := 0; epoch < c.NumIterations; epoch++ {
		for mb := 0; mb < c.Minibatches; mb++ {
			pol := polAt.part(seqs, mb, c.Minibatches)
			rep := repAt.part(st.rep, mb, c.Minibatches)
			// The minibatch's sequences over all ranks (GSPO's
			// per-sequence mean divides by them).
			nPol, nRep := float64(len(pol)), float64(len(rep))
			if err := e.sumF64("minibatch size", &nPol, &nRep); err != nil {
				return err
			}
			e.m.ZeroGrads()
			for _, part := range []struct {
				seqs  []Seq
				n     int
				scale float32
				rep   bool
			}{{pol, int(nPol), 1, false}, {rep, int(nRep), float32(e.cfg.SIRL.LambdaRep), true}} {
				if part.n == 0 || part.scale == 0 {
					continue
				}
				if part.rep {
					repLoss := 0.0
					if len(part.seqs) > 0 {
						lo, err := e.lossPass(part.seqs, part.n, eps, part.scale, false, !needOld)
						if err != nil {
							return err
						}
						repLoss = lo.loss
					}
					if err := e.sumF64("repair loss", &repLoss); err != nil {
						return err
					}
					row["sirl/repair_loss"] = repLoss
					continue
				}
				if len(part.seqs) == 0 {
					continue
				}
				lo, err := e.lossPass(part.seqs, part.n, eps, part.scale, st.seqClip, !needOld)
				if err != nil {
					return err
				}
				sumLoss += lo.loss
				for s := range lo.logp {
					for j := range lo.logp[s] {
						trained++
						if part.seqs[s].Weight[j] == 0 {
							continue
						}
						sumEnt += float64(lo.entropy[s][j])
						nEnt++
						switch {
						case lo.clip[s][j] < 0:
							clipLo++
						case lo.clip[s][j] > 0:
							clipHi++
						}
						kl += float64(lo.kl[s][j])
						nTok++
					}
				}
			}
			g, l, err := opt.Apply(e.m)
			e.be.ResetPool(backend.Activations)
			if err != nil {
				return e.nonFinite("rl", err)
			}
			gnorm, lr = g, l
		}
	}
	tr := float64(trained)
	if err := e.sumF64("update metrics", &sumLoss, &sumEnt, &nEnt, &clipLo, &clipHi, &nTok, &kl, &tr); err != nil {
		return err
	}
	trained = int(tr)
	steps := float64(c.NumIterations * c.Minibatches)
	row[MetricPolicyLoss] = sumLoss / steps
	row["entropy"] = sumEnt / math.Max(1, nEnt)
	row["clip_ratio/low_mean"] = clipLo / math.Max(1, nTok)
	row["clip_ratio/high_mean"] = clipHi / math.Max(1, nTok)
	row["clip_ratio/region_mean"] = (clipLo + clipHi) / math.Max(1, nTok)
	row["kl"] = kl / math.Max(1, nTok)
	row["grad_norm"] = gnorm
	row["learning_rate"] = lr
	row[MetricTrained] = trained
	return nil
}

// microBatch is the most sequences in one forward/backward; gradients of
// the chunks add up (the token weights are already global).
const microBatch = memplan.TrainMicroBatch

// lossPass runs forward+backward of one loss term over micro-batches,
// accumulating gradients, and returns the concatenated per-token results.
// seqClip selects GSPO's sequence-level ratio clip.
// n is the number of sequences of the pass over all ranks (len(seqs) with
// one).
func (e *env) lossPass(seqs []Seq, n int, eps [2]float32, scale float32, seqClip, detachOld bool) (*lossOut, error) {
	out := &lossOut{}
	for lo := 0; lo < len(seqs); lo += microBatch {
		part := seqs[lo:min(lo+microBatch, len(seqs))]
		// A sequence-level loss averages over its chunk; rescale to the batch.
		frac := float32(len(part)) / float32(n)
		r, err := e.lossChunk(part, eps, scale, frac, seqClip, detachOld)
		e.be.ResetPool(backend.Activations)
		if err != nil {
			return nil, err
		}
		out.loss += r.loss
		out.logp = append(out.logp, r.logp...)
		out.entropy = append(out.entropy, r.entropy...)
		out.clip = append(out.clip, r.clip...)
		out.kl = append(out.kl, r.kl...)
	}
	return out, nil
}

// lossChunk runs forward+backward of one micro-batch, scaling its weights.
// detachOld selects the μ = 1 path (ratio 1, old = detached logp); frac is
// the chunk's share of the batch (for GSPO's per-sequence mean).
func (e *env) lossChunk(seqs []Seq, eps [2]float32, scale, frac float32, seqClip, detachOld bool) (*lossOut, error) {
	c := e.cfg.RL
	scaled := make([]Seq, len(seqs))
	for i, s := range seqs {
		s.Weight = scaleVec(s.Weight, scale)
		scaled[i] = s
	}
	if seqClip {
		epsS := gspoEps(e.cfg)
		coefFn := func(logp [][]float32) ([][]float32, float64, error) {
			old := make([][]float32, len(scaled))
			gates, adv := make([][]float32, len(scaled)), make([]float64, len(scaled))
			for i, s := range scaled {
				old[i] = s.OldLogp
				if old[i] == nil {
					old[i] = logp[i]
				}
				gates[i] = gateOf(s.Weight)
				adv[i] = seqAdv(s.Adv)
			}
			loss, coef, _, err := supervise.SeqRatioLoss(logp, old, gates, adv, epsS[0], epsS[1])
			if err != nil {
				return nil, 0, err
			}
			return scaleRows(coef, scale*frac), loss * float64(scale*frac), nil
		}
		return forwardLoss(e.m, scaled, backend.PGLogProbOnly, eps, 0, true, coefFn)
	}
	if detachOld {
		beta := float32(c.Beta)
		coefFn := func(logp [][]float32) ([][]float32, float64, error) {
			c, l := detachedTokenCoef(scaled, logp, beta)
			return c, l, nil
		}
		return forwardLoss(e.m, scaled, backend.PGLogProbOnly, eps, 0, true, coefFn)
	}
	return forwardLoss(e.m, scaled, backend.PGTokenClip, eps, float32(c.Beta), true, nil)
}

// detachedTokenCoef is the token-clip loss at ratio 1 (π_old = θ): the
// loss value is −Σ W·A (+ β·W·k3) and ∂ℓ/∂logp = −W·A + β·W·(1 − exp(ref−logp)).
func detachedTokenCoef(seqs []Seq, logp [][]float32, beta float32) ([][]float32, float64) {
	coef := make([][]float32, len(seqs))
	loss := 0.0
	for i, s := range seqs {
		coef[i] = make([]float32, len(s.Response))
		for j := range s.Response {
			w, a := s.Weight[j], s.Adv[j]
			g := -w * a
			loss += float64(-w * a)
			if beta > 0 && s.RefLogp != nil {
				d := float64(s.RefLogp[j] - logp[i][j])
				loss += float64(beta*w) * (math.Exp(d) - d - 1)
				g += beta * w * float32(1-math.Exp(d))
			}
			coef[i][j] = g
		}
	}
	return coef, loss
}

// gspoEps is GSPO's sequence clip range: rl.gspo_epsilon and
// rl.gspo_epsilon_high, each 3e-4 / 4e-4 (GSPO's defaults) when unset (0).
func gspoEps(c Config) [2]float64 {
	lo, hi := c.RL.GSPOEpsilon, c.RL.GSPOEpsilonHigh
	if lo == 0 {
		lo = 3e-4
	}
	if hi == 0 {
		hi = 4e-4
	}
	return [2]float64{lo, hi}
}

func gateOf(w []float32) []float32 {
	g := make([]float32, len(w))
	for i, x := range w {
		if x != 0 {
			g[i] = 1
		}
	}
	return g
}

// seqAdv is a sequence's advantage: the mean over its non-zero entries.
func seqAdv(a []float32) float64 {
	s, n := 0.0, 0
	for _, x := range a {
		if x != 0 {
			s += float64(x)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

func scaleVec(v []float32, s float32) []float32 {
	if s == 1 {
		return v
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}

func scaleRows(rows [][]float32, s float32) [][]float32 {
	for _, r := range rows {
		for j := range r {
			r[j] *= s
		}
	}
	return rows
}

// slicePart returns minibatch i of n (contiguous, sizes differ by ≤ 1).
func slicePart(seqs []Seq, i, n int) []Seq {
	lo, hi := len(seqs)*i/n, len(seqs)*(i+1)/n
	return seqs[lo:hi]
}

// offset places a rank's sequences in the step's batch over all ranks
// (rank 0's first): they are items [at, at+len) of total.
type offset struct{ at, total int }

// part is this rank's piece of minibatch i of n of the whole batch
// (slicePart over all ranks' sequences).
func (o offset) part(seqs []Seq, i, n int) []Seq {
	lo, hi := o.total*i/n, o.total*(i+1)/n
	lo, hi = max(lo-o.at, 0), min(hi-o.at, len(seqs))
	if lo >= hi {
		return nil
	}
	return seqs[lo:hi]
}

// globalOffset is where this rank's n sequences sit in the batch of all
// ranks.
func (e *env) globalOffset(n int) (offset, error) {
	if e.single() {
		return offset{0, n}, nil
	}
	all, err := dist.GatherF64(e.comm, e.comm.Size(), []float64{float64(n)})
	if err != nil {
		return offset{}, fmt.Errorf("batch layout: %w", err)
	}
	var o offset
	for r, v := range all {
		if r < e.comm.Rank() {
			o.at += int(v)
		}
		o.total += int(v)
	}
	return o, nil
}

// chunkedLogp scores sequences in chunks (no gradients).
func (e *env) chunkedLogp(m *model.Model, seqs []Seq) ([][]float32, error) {
	const chunk = memplan.ScoreChunk
	var out [][]float32
	for lo := 0; lo < len(seqs); lo += chunk {
		lp, err := logpOf(m, seqs[lo:min(lo+chunk, len(seqs))])
		if err != nil {
			return nil, err
		}
		out = append(out, lp...)
	}
	return out, nil
}
