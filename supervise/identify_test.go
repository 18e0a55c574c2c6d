package supervise

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestSibling(t *testing.T) {
	y := toks("3+5=8;8*2=17;#17")
	correct := [][]int32{
		toks("3+5=8;8*2=16;#16"), // LCP 11
		toks("3+5=8;#8"),         // LCP 6
		toks("3+5=8;8*2=16;#16"), // LCP 11 (tie)
	}
	idx, ts := Sibling(y, correct, nil)
	if idx != 0 || ts != 11 {
		t.Fatalf("Sibling = %d, %d; want 0, 11", idx, ts)
	}
	if idx, ts := Sibling(y, nil, nil); idx != -1 || ts != -1 {
		t.Fatalf("empty: %d %d", idx, ts)
	}
	// Ties are broken uniformly at random.
	rng := rand.New(rand.NewPCG(1, 1))
	counts := map[int]int{}
	for i := 0; i < 2000; i++ {
		counts[ChooseAnchor(y, correct, rng)]++
	}
	if counts[1] != 0 || counts[0] < 850 || counts[2] < 850 {
		t.Fatalf("tie counts %v, want ≈1000/0/1000", counts)
	}
}

// chainProbe is an oracle policy stub on a deterministic chain: V(s_k) = 1
// for k < e, 0 from e on. It returns one continuation per probe, tagged by k.
func chainProbe(e int, probed *[]int) func(int) (float64, []Continuation, error) {
	return func(k int) (float64, []Continuation, error) {
		*probed = append(*probed, k)
		v := 0.0
		if k < e {
			v = 1
		}
		return v, []Continuation{{Tokens: []int32{int32(k)}, Reward: v}}, nil
	}
}

// §3.16: MC bisection returns the planted error step for every e and S ≤ 16.
func TestBisectPlanted(t *testing.T) {
	for S := 1; S <= 16; S++ {
		for e := 1; e <= S; e++ {
			var probed []int
			res, err := Bisect(S, 0.5, chainProbe(e, &probed), BisectConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if res.E != e {
				t.Fatalf("S=%d: found step %d, planted %d", S, res.E, e)
			}
			// A true zero at mid = lo+1 also triggers the (harmless) retry.
			if res.Probes != len(probed) || res.Probes > ProbeBudget(S)+1 {
				t.Fatalf("S=%d e=%d: %d probes (budget %d), retried %v", S, e, res.Probes, ProbeBudget(S), res.Retried)
			}
			if e == 1 {
				if res.VPrev != 0.5 || res.Conts != nil {
					t.Fatalf("e=1: VPrev %v conts %v", res.VPrev, res.Conts)
				}
			} else if res.VPrev != 1 || len(res.Conts) != 1 || res.Conts[0].Tokens[0] != int32(e-1) {
				t.Fatalf("S=%d e=%d: VPrev %v conts %v, want those of s_%d", S, e, res.VPrev, res.Conts, e-1)
			}
		}
	}
}

// A noisy stub gives a false zero on the first probe at mid = lo+1; the retry
// (M more samples) recovers the planted step, and without it the step is
// mislocated.
func TestBisectRetry(t *testing.T) {
	// S=8, e=4: probes at 4 (0), 2 (1), then 3 = lo+1 where the stub lies.
	S, e := 8, 4
	noisy := func() func(int) (float64, []Continuation, error) {
		fooled := false
		return func(k int) (float64, []Continuation, error) {
			if k == e-1 && !fooled {
				fooled = true
				return 0, []Continuation{{Reward: 0}, {Reward: 0}}, nil
			}
			v := 0.0
			if k < e {
				v = 1
			}
			return v, []Continuation{{Reward: v}, {Reward: v}}, nil
		}
	}
	res, err := Bisect(S, 0.5, noisy(), BisectConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Retried || res.E != e || res.Probes != ProbeBudget(S)+1 {
		t.Fatalf("with retry: E=%d retried=%v probes=%d", res.E, res.Retried, res.Probes)
	}
	if res.VPrev != 0.5 || len(res.Conts) != 4 {
		t.Fatalf("merged V̂ %v over %d continuations, want 0.5 over 4", res.VPrev, len(res.Conts))
	}
	res, err = Bisect(S, 0.5, noisy(), BisectConfig{NoRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retried || res.E == e {
		t.Fatalf("without retry: E=%d retried=%v; the false zero should mislocate", res.E, res.Retried)
	}
}

func TestBisectErrors(t *testing.T) {
	ok := func(int) (float64, []Continuation, error) { return 1, nil, nil }
	boom := errors.New("boom")
	cases := []struct {
		name  string
		S     int
		v0    float64
		probe func(int) (float64, []Continuation, error)
	}{
		{"no steps", 0, 0.5, ok},
		{"v0 not above tau", 4, 0, ok},
		{"nil probe", 4, 0.5, nil},
		{"probe error", 4, 0.5, func(int) (float64, []Continuation, error) { return 0, nil, boom }},
		{"value out of range", 4, 0.5, func(int) (float64, []Continuation, error) { return 2, nil, nil }},
	}
	for _, c := range cases {
		if _, err := Bisect(c.S, c.v0, c.probe, BisectConfig{}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestProbeBudget(t *testing.T) {
	for S, want := range map[int]int{1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 16: 4, 17: 5} {
		if got := ProbeBudget(S); got != want {
			t.Errorf("ProbeBudget(%d) = %d, want %d", S, got, want)
		}
	}
}

func TestSelectRepair(t *testing.T) {
	cases := []struct {
		name   string
		cands  []Candidate
		best   int
		scores []float64
	}{
		{"smaller edit wins", []Candidate{{true, 1, 0.4}, {true, 1, 0.2}}, 1, []float64{0.8, 0.9}},
		{"audit failure scores 0", []Candidate{{false, 1, 0.1}, {true, 1, 0.6}}, 1, []float64{0, 0.7}},
		{"wrong repairs rejected", []Candidate{{true, 0, 0.1}, {true, 0, 0.5}}, -1, []float64{-0.05, -0.25}},
		{"nothing audited", []Candidate{{false, 1, 0.1}}, -1, []float64{0}},
		{"empty", nil, -1, []float64{}},
		{"tie: first", []Candidate{{true, 1, 0.2}, {true, 1, 0.2}}, 0, []float64{0.9, 0.9}},
	}
	for _, c := range cases {
		best, scores := SelectRepair(c.cands, SelectConfig{LambdaEdit: 0.5})
		if best != c.best || len(scores) != len(c.scores) {
			t.Errorf("%s: best %d scores %v, want %d %v", c.name, best, scores, c.best, c.scores)
			continue
		}
		for j := range scores {
			if d := scores[j] - c.scores[j]; d*d > 1e-20 {
				t.Errorf("%s: score %d = %v, want %v", c.name, j, scores[j], c.scores[j])
			}
		}
	}
}
