package supervise

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randSeqBatch draws log-probs, gates and advantages for a batch.
func randSeqBatch(rng *rand.Rand, spread float64) (lp, old, g [][]float64, adv []float64) {
	B := 1 + rng.IntN(6)
	for z := 0; z < B; z++ {
		n := 1 + rng.IntN(10)
		a, b, gz := make([]float64, n), make([]float64, n), make([]float64, n)
		for t := range a {
			b[t] = -3 * rng.Float64()
			a[t] = b[t] + spread*(rng.Float64()-0.5)
			if rng.IntN(3) == 0 {
				gz[t] = 1
			}
		}
		if z == 0 {
			gz[0] = 1
		}
		lp, old, g = append(lp, a), append(old, b), append(g, gz)
		adv = append(adv, 2*rng.Float64()-1)
	}
	return lp, old, g, adv
}

func to32(x [][]float64) [][]float32 {
	out := make([][]float32, len(x))
	for i, r := range x {
		out[i] = make([]float32, len(r))
		for j, v := range r {
			out[i][j] = float32(v)
		}
	}
	return out
}

// The coefficients are ∂L/∂logp: compare with central finite differences.
func TestSeqRatioLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const h = 1e-6
	for it := 0; it < 300; it++ {
		lp, old, g, adv := randSeqBatch(rng, 0.02)
		eL, eH := 3e-3, 4e-3
		_, coef, _ := seqRatioLoss64(lp, old, g, adv, eL, eH)
		for z := range lp {
			for tk := range lp[z] {
				x := lp[z][tk]
				lp[z][tk] = x + h
				lpl, _, _ := seqRatioLoss64(lp, old, g, adv, eL, eH)
				lp[z][tk] = x - h
				lml, _, _ := seqRatioLoss64(lp, old, g, adv, eL, eH)
				lp[z][tk] = x
				fd := (lpl - lml) / (2 * h)
				if math.Abs(fd-coef[z][tk]) > 1e-6 {
					// Skip only a finite difference straddling a clip kink.
					if kinkNear(lp[z], old[z], g[z], eL, eH, h) {
						continue
					}
					t.Fatalf("it %d seq %d tok %d: coef %v, finite difference %v", it, z, tk, coef[z][tk], fd)
				}
			}
		}
	}
}

// kinkNear reports whether w_z is within the step h of a clip boundary.
func kinkNear(lp, old, g []float64, eL, eH, h float64) bool {
	sg, sl := 0.0, 0.0
	for t := range lp {
		sg += g[t]
		sl += g[t] * (lp[t] - old[t])
	}
	w := math.Exp(sl / sg)
	return math.Abs(w-(1-eL)) < 4*h || math.Abs(w-(1+eH)) < 4*h
}

// §3.16: gated GSPO with all gates 1 (and gates nil) equals plain GSPO,
// s_z = exp(mean_t log ρ), written here directly from §2.2.
func TestSeqRatioLossAllOnesIsGSPO(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for it := 0; it < 300; it++ {
		lp, old, _, adv := randSeqBatch(rng, 0.01)
		eL, eH := 3e-4, 4e-4
		want := 0.0
		wantCoef := make([][]float64, len(lp))
		for z := range lp {
			s := 0.0
			for t := range lp[z] {
				s += lp[z][t] - old[z][t]
			}
			n := float64(len(lp[z]))
			w := math.Exp(s / n)
			cw := math.Min(math.Max(w, 1-eL), 1+eH)
			obj := math.Min(w*adv[z], cw*adv[z])
			want -= obj / float64(len(lp))
			wantCoef[z] = make([]float64, len(lp[z]))
			if w*adv[z] <= cw*adv[z] {
				for t := range lp[z] {
					wantCoef[z][t] = -adv[z] * w / n / float64(len(lp))
				}
			}
		}
		ones := make([][]float32, len(lp))
		for z := range lp {
			ones[z] = make([]float32, len(lp[z]))
			for t := range ones[z] {
				ones[z][t] = 1
			}
		}
		for _, gates := range [][][]float32{ones, nil} {
			loss, coef, _, err := SeqRatioLoss(to32(lp), to32(old), gates, adv, eL, eH)
			if err != nil {
				t.Fatal(err)
			}
			// Inputs pass through float32, so compare at float32 precision.
			if !near(loss, want, 1e-5) {
				t.Fatalf("loss %v, GSPO %v", loss, want)
			}
			for z := range coef {
				for tk := range coef[z] {
					if !near(float64(coef[z][tk]), wantCoef[z][tk], 1e-4) {
						t.Fatalf("coef %v, GSPO %v", coef[z][tk], wantCoef[z][tk])
					}
				}
			}
		}
	}
}

// §3.16: zero gradient on ungated tokens, and the loss does not depend on them.
func TestSeqRatioLossUngatedTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	for it := 0; it < 300; it++ {
		lp, old, g, adv := randSeqBatch(rng, 0.5)
		loss, coef, frac, err := SeqRatioLoss(to32(lp), to32(old), to32(g), adv, 3e-4, 4e-4)
		if err != nil {
			t.Fatal(err)
		}
		if frac < 0 || frac > 1 {
			t.Fatalf("clip fraction %v", frac)
		}
		for z := range g {
			for tk := range g[z] {
				if g[z][tk] == 0 {
					if coef[z][tk] != 0 {
						t.Fatalf("ungated token has coef %v", coef[z][tk])
					}
					lp[z][tk] += 1
				}
			}
		}
		loss2, _, _, _ := SeqRatioLoss(to32(lp), to32(old), to32(g), adv, 3e-4, 4e-4)
		if loss2 != loss {
			t.Fatalf("moving ungated log-probs changed the loss: %v → %v", loss, loss2)
		}
	}
}

func TestSeqRatioLossErrors(t *testing.T) {
	one := [][]float32{{0}}
	cases := []struct {
		lp, old, g [][]float32
		adv        []float64
		eL         float64
	}{
		{one, nil, nil, []float64{1}, 0.1},
		{one, one, nil, nil, 0.1},
		{one, [][]float32{{0, 0}}, nil, []float64{1}, 0.1},
		{one, one, [][]float32{{1, 1}}, []float64{1}, 0.1},
		{one, one, nil, []float64{1}, -0.1},
	}
	for i, c := range cases {
		if _, _, _, err := SeqRatioLoss(c.lp, c.old, c.g, c.adv, c.eL, 0.1); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func TestSeqAdv(t *testing.T) {
	f, r, err := BuildPair("", toks("ab;c"), toks("ab;d"), Diff(toks("ab;c"), toks("ab;d")), 1, GateConfig{Scope: ScopeOps}, DefaultAdvConfig())
	if err != nil {
		t.Fatal(err)
	}
	if SeqAdv(f) != -1 || SeqAdv(r) != 1 || SeqAdv(Gated{Gate: []float32{0}, Adv: []float32{0}}) != 0 {
		t.Fatalf("SeqAdv = %v, %v", SeqAdv(f), SeqAdv(r))
	}
}
