package supervise

import (
	"math/rand/v2"
	"testing"
)

func TestTokenWeightsTable(t *testing.T) {
	lens := []int{2, 4}
	gates := [][]float32{{1, 0}, {0, 1, 1, 0}}
	cases := []struct {
		mode  string
		gates [][]float32
		want  [][]float32
	}{
		{AggTokenMean, nil, [][]float32{{1. / 6, 1. / 6}, {1. / 6, 1. / 6, 1. / 6, 1. / 6}}},
		{AggSeqMeanTokenMean, nil, [][]float32{{1. / 4, 1. / 4}, {1. / 8, 1. / 8, 1. / 8, 1. / 8}}},
		{AggSeqMeanTokenSum, nil, [][]float32{{.5, .5}, {.5, .5, .5, .5}}},
		{AggSeqMeanTokenSumNorm, nil, [][]float32{{.1, .1}, {.1, .1, .1, .1}}},
		{AggSeqMeanActive, gates, [][]float32{{.5, 0}, {0, .25, .25, 0}}},
		{AggTokenMeanActive, gates, [][]float32{{1. / 3, 0}, {0, 1. / 3, 1. / 3, 0}}},
		{AggConst, gates, [][]float32{{.1, 0}, {0, .1, .1, 0}}},
		{AggSeqMeanActive, [][]float32{{0, 0}, {0, 0, 0, 0}}, [][]float32{{0, 0}, {0, 0, 0, 0}}},
	}
	for _, c := range cases {
		w, err := TokenWeights(c.mode, lens, c.gates, 5)
		if err != nil {
			t.Fatal(err)
		}
		for z := range c.want {
			for i := range c.want[z] {
				if !near(float64(w[z][i]), float64(c.want[z][i]), 1e-6) {
					t.Fatalf("%s: W = %v, want %v", c.mode, w, c.want)
				}
			}
		}
	}
	bad := []struct {
		mode  string
		lens  []int
		gates [][]float32
		Lmax  int
	}{
		{"nope", lens, nil, 5},
		{AggConst, lens, gates, 0},
		{AggTokenMean, lens, [][]float32{{1}}, 5},
		{AggTokenMean, lens, [][]float32{{1}, {1, 1, 1, 1}}, 5},
		{AggTokenMean, []int{-1}, nil, 5},
	}
	for _, b := range bad {
		if _, err := TokenWeights(b.mode, b.lens, b.gates, b.Lmax); err == nil {
			t.Errorf("TokenWeights(%q, %v, %v, %d) accepted", b.mode, b.lens, b.gates, b.Lmax)
		}
	}
}

// randBatch draws one group: lengths, log-probs and rewards.
func randBatch(rng *rand.Rand) (lens []int, lp, old [][]float64, r []float64) {
	G := 2 + rng.IntN(7)
	for i := 0; i < G; i++ {
		n := 1 + rng.IntN(12)
		lens = append(lens, n)
		a, b := make([]float64, n), make([]float64, n)
		for t := range a {
			b[t] = -3 * rng.Float64()
			a[t] = b[t] + 0.6*(rng.Float64()-0.5)
		}
		lp, old = append(lp, a), append(old, b)
		r = append(r, float64(rng.IntN(2)))
	}
	r[0], r[1] = 0, 1 // mixed group
	return lens, lp, old, r
}

// §3.16: B_pol = one group's own G sequences, all gates 1, A = Â_z: the
// gated_token loss with seq_mean_active equals GRPO's seq-mean-token-mean loss,
// and with token_mean_active the DAPO token-mean loss (references written
// directly from the formulas of §2.2).
func TestGatedLossEqualsBaselines(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	for it := 0; it < 200; it++ {
		lens, lp, old, r := randBatch(rng)
		adv, _ := GroupAdvantages(r, AlgoGRPO, true, 1e-6)
		ones := make([][]float32, len(lens))
		ell := make([][]float64, len(lens))
		grpo, dapo, ntok := 0.0, 0.0, 0
		for z, n := range lens {
			ones[z] = make([]float32, n)
			ell[z] = make([]float64, n)
			seq := 0.0
			for t := 0; t < n; t++ {
				ones[z][t] = 1
				ell[z][t], _, _ = TokenClipLoss(lp[z][t], old[z][t], adv[z], 0.2, 0.28)
				seq += ell[z][t]
				dapo += ell[z][t]
			}
			grpo += seq / float64(n) / float64(len(lens))
			ntok += n
		}
		dapo /= float64(ntok)
		for _, c := range []struct {
			mode string
			want float64
		}{{AggSeqMeanActive, grpo}, {AggSeqMeanTokenMean, grpo}, {AggTokenMeanActive, dapo}, {AggTokenMean, dapo}} {
			w, err := TokenWeights(c.mode, lens, ones, 16)
			if err != nil {
				t.Fatal(err)
			}
			got, err := WeightedLoss(ell, w)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, c.want, 1e-5) {
				t.Fatalf("%s: loss %v, want %v", c.mode, got, c.want)
			}
		}
	}
}

func TestTokenClipLoss(t *testing.T) {
	cases := []struct {
		logp, old, adv float64
		clip           int
		zeroGrad       bool
	}{
		{0, 0, 1, 0, false},
		{0.5, 0, 1, 1, true},    // ρ > 1+ε, A > 0: clipped
		{0.5, 0, -1, 0, false},  // ρ > 1+ε, A < 0: unclipped
		{-0.5, 0, -1, -1, true}, // ρ < 1−ε, A < 0: clipped
		{-0.5, 0, 1, 0, false},  // ρ < 1−ε, A > 0: unclipped
	}
	for _, c := range cases {
		loss, d, clip := TokenClipLoss(c.logp, c.old, c.adv, 0.2, 0.28)
		if clip != c.clip || (d == 0) != c.zeroGrad {
			t.Errorf("%+v: clip %d grad %v", c, clip, d)
		}
		// Derivative against a central difference (away from the kinks).
		h := 1e-6
		lp, _, _ := TokenClipLoss(c.logp+h, c.old, c.adv, 0.2, 0.28)
		lm, _, _ := TokenClipLoss(c.logp-h, c.old, c.adv, 0.2, 0.28)
		if fd := (lp - lm) / (2 * h); !near(d, fd, 1e-6) {
			t.Errorf("%+v: dℓ/dlogp %v, finite difference %v (loss %v)", c, d, fd, loss)
		}
	}
	if _, err := WeightedLoss([][]float64{{1}}, nil); err == nil {
		t.Error("WeightedLoss accepted mismatched rows")
	}
}
