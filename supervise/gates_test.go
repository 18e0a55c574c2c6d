package supervise

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// mask turns a string of '0'/'1' into a gate vector.
func mask(s string) []float32 {
	out := make([]float32, len(s))
	for i := range s {
		if s[i] == '1' {
			out[i] = 1
		}
	}
	return out
}

func TestGatesTable(t *testing.T) {
	stepOf := func(s string) func(int) int { return StepsByDelimiter(toks(s), ';') }
	cases := []struct {
		name    string
		y, yb   string
		kstar   int // -1 = all ops
		scope   string
		gy, gyb string
	}{
		{"sub", "ab;cX;#1", "ab;cY;#1", -1, ScopeOps, "00001000", "00001000"},
		// deletion: the ȳ token at the deletion point (';') is gated.
		{"del", "ab;cX;#1", "ab;c;#1", -1, ScopeOps, "00001000", "0000100"},
		// insertion: the y token at the insertion point (';') is gated.
		{"ins", "ab;c;#1", "ab;cY;#1", -1, ScopeOps, "0000100", "00001000"},
		{"del at end", "abc", "ab", -1, ScopeOps, "001", "00"},
		{"ins at end", "ab", "abc", -1, ScopeOps, "00", "001"},
		{"chain all", "8=7;7-1=6;#6", "8=8;8-1=7;#7", -1, ScopeOps, "001010001001", "001010001001"},
		{"chain K*=2", "8=7;7-1=6;#6", "8=8;8-1=7;#7", 2, ScopeOps, "001010000000", "001010000000"},
		{"first divergence", "8=7;7-1=6;#6", "8=8;8-1=7;#7", -1, ScopeFirstDivergence, "001000000000", "001000000000"},
		{"step K*=1", "8=7;7-1=6;#6", "8=8;8-1=7;#7", 1, ScopeStep, "111100000000", "111100000000"},
		{"step K*=2", "8=7;7-1=6;#6", "8=8;8-1=7;#7", 2, ScopeStep, "111111111100", "111111111100"},
		{"equal", "abc", "abc", -1, ScopeFirstDivergence, "000", "000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := Diff(toks(c.y), toks(c.yb))
			k := c.kstar
			if k < 0 {
				k = es.Len()
			}
			gy, gyb, err := Gates(es, k, GateConfig{Scope: c.scope, StepOfY: stepOf(c.y), StepOfYb: stepOf(c.yb)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(gy, mask(c.gy)) || !slices.Equal(gyb, mask(c.gyb)) {
				t.Fatalf("gates %v / %v, want %s / %s (ops %v)", gy, gyb, c.gy, c.gyb, es.Ops)
			}
		})
	}
}

func TestGatesErrors(t *testing.T) {
	es := Diff(toks("ab"), toks("ax"))
	for _, c := range []struct {
		k   int
		cfg GateConfig
	}{
		{2, GateConfig{Scope: ScopeOps}},
		{-1, GateConfig{Scope: ScopeOps}},
		{1, GateConfig{Scope: "bogus"}},
		{1, GateConfig{Scope: ScopeStep}},
	} {
		if _, _, err := Gates(es, c.k, c.cfg); err == nil {
			t.Errorf("Gates(k=%d, %+v) accepted", c.k, c.cfg)
		}
	}
}

// §3.16: with K ≥ |S∞| the gates equal the full diff (every sub/del y token
// and every sub/ins ȳ token is gated); first_divergence gates exactly one
// token per side (when both sides have a token at t*).
func TestGateInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	never := func(int) (bool, error) { return false, nil }
	for it := 0; it < 3000; it++ {
		y, yb := randPair(rng)
		es := Diff(y, yb)
		ks, _, err := Truncate(es.Ops, -1, -1, es.Len()+rng.IntN(3), never)
		if err != nil || ks != es.Len() {
			t.Fatalf("K ≥ |S∞| gave K*=%d of %d (%v)", ks, es.Len(), err)
		}
		gy, gyb, err := Gates(es, ks, GateConfig{Scope: ScopeOps})
		if err != nil {
			t.Fatal(err)
		}
		full, fullb := make([]float32, len(y)), make([]float32, len(yb))
		for _, op := range es.Ops {
			if op.Kind != Ins {
				full[op.I] = 1
			}
			if op.Kind != Del {
				fullb[op.J] = 1
			}
		}
		for i := range y {
			if full[i] == 1 && gy[i] != 1 {
				t.Fatalf("y token %d edited but not gated", i)
			}
			// Only the first common-suffix token can be gated (as an
			// insertion point).
			if (i < es.Prefix || i > len(y)-es.Suffix) && gy[i] != 0 {
				t.Fatalf("y token %d in the common prefix/suffix is gated", i)
			}
		}
		for j := range yb {
			if fullb[j] == 1 && gyb[j] != 1 {
				t.Fatalf("ȳ token %d edited but not gated", j)
			}
			if (j < es.Prefix || j > len(yb)-es.Suffix) && gyb[j] != 0 {
				t.Fatalf("ȳ token %d in the common prefix/suffix is gated", j)
			}
		}
		fy, fyb, err := Gates(es, ks, GateConfig{Scope: ScopeFirstDivergence})
		if err != nil {
			t.Fatal(err)
		}
		ts := es.FirstDivergence()
		if ts >= 0 && ts < len(y) && ts < len(yb) {
			if sum(fy) != 1 || sum(fyb) != 1 || fy[ts] != 1 || fyb[ts] != 1 {
				t.Fatalf("first_divergence gates %v / %v, t*=%d", fy, fyb, ts)
			}
		}
	}
}

func sum(g []float32) float32 {
	s := float32(0)
	for _, v := range g {
		s += v
	}
	return s
}

// §3.16: advantage signs — failed side ≤ 0, repaired side ≥ 0, zero off-gate.
func TestPairAdvantageSigns(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for it := 0; it < 500; it++ {
		y, yb := randPair(rng)
		es := Diff(y, yb)
		cfg := DefaultAdvConfig()
		if it%2 == 1 {
			G := 2 + rng.IntN(15)
			r := make([]float64, G)
			for i := range r {
				r[i] = float64(rng.IntN(2))
			}
			cfg.Scale = ScaleGRPO
			cfg.GroupMean, cfg.GroupStd = GroupStats(r)
		}
		f, r, err := BuildPair("p", y, yb, es, rng.IntN(es.Len()+1), GateConfig{Scope: ScopeOps}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for t2, a := range f.Adv {
			if a > 0 || (f.Gate[t2] == 0 && a != 0) {
				t.Fatalf("failed side advantage %v at gate %v", a, f.Gate[t2])
			}
		}
		for t2, a := range r.Adv {
			if a < 0 || (r.Gate[t2] == 0 && a != 0) {
				t.Fatalf("repaired side advantage %v at gate %v", a, r.Gate[t2])
			}
		}
		if f.Source != SourceFailed || r.Source != SourceRepaired {
			t.Fatalf("sources %q %q", f.Source, r.Source)
		}
	}
}

func TestAlphas(t *testing.T) {
	am, ap, err := Alphas(AdvConfig{Scale: ScaleGRPO, GroupMean: 0.25, GroupStd: 0.5, Eps: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	// Â of a failure at p = 0.25 is (0 − 0.25)/0.5, of a success (1 − 0.25)/0.5.
	if d := am - 0.5; d*d > 1e-10 {
		t.Errorf("α⁻ = %v, want 0.5", am)
	}
	if d := ap - 1.5; d*d > 1e-10 {
		t.Errorf("α⁺ = %v, want 1.5", ap)
	}
	for _, bad := range []AdvConfig{{Scale: ScaleMC}, {Scale: "x"}, {Scale: ScalePair, AlphaMinus: -1}, {Scale: ScaleGRPO, GroupMean: 2, Eps: 1}} {
		if _, _, err := Alphas(bad); err == nil {
			t.Errorf("Alphas(%+v) accepted", bad)
		}
	}
}

func TestMCGated(t *testing.T) {
	y := toks("3+5=8;8*2=17;17-7=10;#10")
	stepOf := StepsByDelimiter(y, ';')
	conts := []Continuation{{toks("8*2=16;16-7=9;#9"), 1}, {toks("8*2=15;15-7=8;#8"), 0}}
	out, err := MCGated("p", y, stepOf, 2, 0.5, conts)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d sequences, want 3", len(out))
	}
	f := out[0]
	for i := range y {
		wantG := float32(0)
		if stepOf(i) == 1 {
			wantG = 1
		}
		if f.Gate[i] != wantG || f.Adv[i] != -0.5*wantG {
			t.Fatalf("failed token %d: gate %v adv %v", i, f.Gate[i], f.Adv[i])
		}
	}
	b := StepBoundary(len(y), stepOf, 1)
	if b != 6 {
		t.Fatalf("b_1 = %d, want 6", b)
	}
	for m, c := range conts {
		z := out[m+1]
		if !slices.Equal(z.Tokens[:b], y[:b]) || !slices.Equal(z.Tokens[b:], c.Tokens) || z.Source != SourceMCCont {
			t.Fatalf("continuation %d: %v", m, z)
		}
		for i := range z.Tokens {
			wantA := float32(0)
			if i >= b {
				wantA = float32(c.Reward - 0.5)
			}
			if z.Adv[i] != wantA || (z.Gate[i] == 1) != (i >= b) {
				t.Fatalf("continuation %d token %d: gate %v adv %v", m, i, z.Gate[i], z.Adv[i])
			}
		}
	}
	if _, err := MCGated("p", y, stepOf, 0, 0.5, nil); err == nil {
		t.Error("e = 0 accepted")
	}
	if _, err := MCGated("p", y, stepOf, 9, 0.5, nil); err == nil {
		t.Error("step past the end accepted")
	}
	if _, err := MCGated("p", y, nil, 1, 0.5, nil); err == nil {
		t.Error("nil stepOf accepted")
	}
}
