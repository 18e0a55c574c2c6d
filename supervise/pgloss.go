package supervise

import (
	"fmt"
	"math"
)

// TokenClipLoss is the host reference of the clipped per-token policy loss of
// METHOD.md §3.9 (the op the backend fuses with the LM head):
//
//	ρ = exp(logp − oldLogp),  ℓ = −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A),
//
// its derivative dℓ/dlogp (−ρ·A where the unclipped term is the minimum, 0
// where the clipped one strictly is), and clip = −1 / +1 where the low / high
// clip is active (0 elsewhere), as in backend.PGLossOut.Clip.
func TokenClipLoss(logp, oldLogp, adv, epsLow, epsHigh float64) (loss, dlogp float64, clip int) {
	rho := math.Exp(logp - oldLogp)
	c := math.Min(math.Max(rho, 1-epsLow), 1+epsHigh)
	u, v := rho*adv, c*adv
	if u <= v {
		return -u, -u, 0
	}
	if rho < 1-epsLow {
		return -v, 0, -1
	}
	return -v, 0, 1
}

// WeightedLoss is Σ_z Σ_t W_{z,t}·ℓ_{z,t}, the aggregated loss given per-token
// losses and the weights of TokenWeights.
func WeightedLoss(ell [][]float64, w [][]float32) (float64, error) {
	if len(ell) != len(w) {
		return 0, fmt.Errorf("supervise: weighted loss: %d loss rows, %d weight rows", len(ell), len(w))
	}
	s := 0.0
	for z := range ell {
		if len(ell[z]) != len(w[z]) {
			return 0, fmt.Errorf("supervise: weighted loss: row %d has %d losses, %d weights", z, len(ell[z]), len(w[z]))
		}
		for t, l := range ell[z] {
			s += float64(w[z][t]) * l
		}
	}
	return s, nil
}
