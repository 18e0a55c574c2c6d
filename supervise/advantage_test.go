package supervise

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

func TestGroupAdvantages(t *testing.T) {
	// r = [1,0,0,0]: μ = 0.25, sample std = sqrt(0.75/3) = 0.5.
	r := []float64{1, 0, 0, 0}
	cases := []struct {
		algo  string
		scale bool
		want  []float64
	}{
		{AlgoGRPO, true, []float64{1.5, -0.5, -0.5, -0.5}},
		{AlgoDAPO, true, []float64{1.5, -0.5, -0.5, -0.5}},
		{AlgoGSPO, true, []float64{1.5, -0.5, -0.5, -0.5}},
		{AlgoGRPO, false, []float64{0.75, -0.25, -0.25, -0.25}},
		{AlgoDrGRPO, true, []float64{0.75, -0.25, -0.25, -0.25}},
		{AlgoVinePPOOutcome, true, []float64{0.75, -0.25, -0.25, -0.25}},
	}
	for _, c := range cases {
		got, err := GroupAdvantages(r, c.algo, c.scale, 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if !near(got[i], c.want[i], 1e-5) {
				t.Errorf("%s scale=%v: A = %v, want %v", c.algo, c.scale, got, c.want)
				break
			}
		}
	}
	if _, err := GroupAdvantages(r, "ppo", true, 1e-6); err == nil {
		t.Error("unknown algo accepted")
	}
	if _, err := GroupAdvantages(r, AlgoGRPO, true, 0); err == nil {
		t.Error("eps 0 accepted")
	}
	same, _ := GroupAdvantages([]float64{1, 1, 1}, AlgoGRPO, true, 1e-6)
	for _, a := range same {
		if a != 0 {
			t.Fatalf("all-equal group: %v", same)
		}
	}
}

// GRPO advantages sum to zero and have sample std ≈ 1 in mixed groups.
func TestGroupAdvantagesMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	for it := 0; it < 200; it++ {
		G := 2 + rng.IntN(15)
		r := make([]float64, G)
		for i := range r {
			r[i] = rng.Float64()
		}
		a, _ := GroupAdvantages(r, AlgoGRPO, true, 1e-9)
		m, s := GroupStats(a)
		if math.Abs(m) > 1e-9 || !near(s, 1, 1e-6) {
			t.Fatalf("mean %v std %v", m, s)
		}
	}
}

func TestVineAdvantages(t *testing.T) {
	got, err := VineAdvantages([]float64{0.5, 0.75, 0, 0.9}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A_1 = 0.75−0.5, A_2 = 0−0.75, A_3 = 1 + 0 − 0 (values[3] ignored).
	want := []float64{0.25, -0.75, 1}
	for i := range want {
		if !near(got[i], want[i], 1e-12) {
			t.Fatalf("A = %v, want %v", got, want)
		}
	}
	// Telescoping: Σ_k A_k = r − V̂(s_0), for random values.
	rng := rand.New(rand.NewPCG(4, 5))
	for it := 0; it < 100; it++ {
		v := make([]float64, 2+rng.IntN(10))
		for i := range v {
			v[i] = rng.Float64()
		}
		r := float64(rng.IntN(2))
		a, _ := VineAdvantages(v, r)
		s := 0.0
		for _, x := range a {
			s += x
		}
		if !near(s, r-v[0], 1e-12) {
			t.Fatalf("Σ A = %v, want %v", s, r-v[0])
		}
	}
	if _, err := VineAdvantages([]float64{1}, 1); err == nil {
		t.Error("S = 0 accepted")
	}
}

func TestStepToTokens(t *testing.T) {
	y := toks("a;bc;#1")
	got := StepToTokens([]float64{1, -2}, StepsByDelimiter(y, ';'), len(y))
	want := []float32{1, 1, -2, -2, -2, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
