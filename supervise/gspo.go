package supervise

import (
	"fmt"
	"math"
)

// SeqRatioLoss is the host-side sequence-ratio loss of GSPO (METHOD.md §2.2)
// and gated GSPO (§3.9, loss: gated_gspo) for a batch B of sequences:
//
//	w_z = exp( Σ_t g_{z,t}(logp_{z,t} − oldLogp_{z,t}) / Σ_t g_{z,t} ),
//	L   = −(1/|B|) Σ_z min( w_z A_z, clip(w_z, 1−epsL, 1+epsH) A_z ),
//
// and coef_{z,t} = ∂L/∂logp_{z,t} = −(1/|B|)·[unclipped]·A_z·w_z·g_{z,t}/Σ_t g,
// which the RL loop hands to the backend's loss backward (PGLogProbOnly mode,
// Coef filled by the caller). gates == nil means all ones (plain GSPO,
// s_z = (π_θ/π_old)^{1/|z|}). Ungated tokens get coef 0; a sequence with no
// active token contributes 0 but still counts in |B|. clipFrac is the fraction
// of sequences with an active token whose clipped term is strictly the
// minimum (zero gradient).
func SeqRatioLoss(logp, oldLogp, gates [][]float32, adv []float64, epsL, epsH float64) (loss float64, coef [][]float32, clipFrac float64, err error) {
	if len(oldLogp) != len(logp) || len(adv) != len(logp) || (gates != nil && len(gates) != len(logp)) {
		return 0, nil, 0, fmt.Errorf("supervise: seq ratio loss: batch sizes differ (logp %d, old %d, adv %d, gates %d)", len(logp), len(oldLogp), len(adv), len(gates))
	}
	lp, old := to64(logp), to64(oldLogp)
	var g [][]float64
	if gates != nil {
		g = to64(gates)
	}
	for z := range lp {
		if len(old[z]) != len(lp[z]) || (g != nil && len(g[z]) != len(lp[z])) {
			return 0, nil, 0, fmt.Errorf("supervise: seq ratio loss: sequence %d has mismatched lengths", z)
		}
	}
	if epsL < 0 || epsH < 0 {
		return 0, nil, 0, fmt.Errorf("supervise: seq ratio loss: negative clip range (%v, %v)", epsL, epsH)
	}
	loss, c64, clipFrac := seqRatioLoss64(lp, old, g, adv, epsL, epsH)
	coef = make([][]float32, len(c64))
	for z, row := range c64 {
		coef[z] = make([]float32, len(row))
		for t, v := range row {
			coef[z][t] = float32(v)
		}
	}
	return loss, coef, clipFrac, nil
}

// seqRatioLoss64 is SeqRatioLoss in float64 on validated input (g nil = ones).
func seqRatioLoss64(lp, old, g [][]float64, adv []float64, epsL, epsH float64) (loss float64, coef [][]float64, clipFrac float64) {
	B := float64(len(lp))
	coef = make([][]float64, len(lp))
	active, clipped := 0, 0
	for z := range lp {
		coef[z] = make([]float64, len(lp[z]))
		gz := func(t int) float64 {
			if g == nil {
				return 1
			}
			return g[z][t]
		}
		sg, sl := 0.0, 0.0
		for t := range lp[z] {
			sg += gz(t)
			sl += gz(t) * (lp[z][t] - old[z][t])
		}
		if sg == 0 {
			continue
		}
		active++
		w := math.Exp(sl / sg)
		a := adv[z]
		u := w * a
		v := math.Min(math.Max(w, 1-epsL), 1+epsH) * a
		if u <= v {
			loss -= u / B
			for t := range lp[z] {
				coef[z][t] = -a * w * gz(t) / sg / B
			}
		} else {
			loss -= v / B
			clipped++
		}
	}
	if active > 0 {
		clipFrac = float64(clipped) / float64(active)
	}
	return loss, coef, clipFrac
}

// to64 widens a ragged float32 matrix.
func to64(x [][]float32) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = make([]float64, len(row))
		for j, v := range row {
			out[i][j] = float64(v)
		}
	}
	return out
}

// SeqAdv is the sequence advantage A_z of a gated sequence for the gated GSPO
// loss: its advantage at the first gated token (−α⁻ on a failure, +α⁺ on a
// repair), or 0 when nothing is gated.
func SeqAdv(g Gated) float64 {
	for t, v := range g.Gate {
		if v != 0 && t < len(g.Adv) {
			return float64(g.Adv[t])
		}
	}
	return 0
}
