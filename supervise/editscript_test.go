package supervise

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// toks turns a string into char-level token ids (the built-in tokenizer maps
// one character to one token).
func toks(s string) []int32 {
	out := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int32(s[i])
	}
	return out
}

func TestDiffTable(t *testing.T) {
	cases := []struct {
		name         string
		y, yb        string
		ops          []Op
		prefix, suff int
	}{
		{"equal", "abc", "abc", nil, 3, 0},
		{"both empty", "", "", nil, 0, 0},
		{"sub middle", "abXde", "abYde", []Op{{Sub, 2, 2}}, 2, 2},
		{"del middle", "abXde", "abde", []Op{{Del, 2, 2}}, 2, 2},
		{"ins middle", "abde", "abXde", []Op{{Ins, 2, 2}}, 2, 2},
		{"ins end", "ab", "abc", []Op{{Ins, 2, 2}}, 2, 0},
		{"del end", "abc", "ab", []Op{{Del, 2, 2}}, 2, 0},
		{"from empty", "", "xy", []Op{{Ins, 0, 0}, {Ins, 0, 1}}, 0, 0},
		{"to empty", "xy", "", []Op{{Del, 0, 0}, {Del, 1, 0}}, 0, 0},
		// Chain task: a wrong intermediate propagates to the answer.
		{"chain", "8*2=17;#17", "8*2=16;#16", []Op{{Sub, 5, 5}, {Sub, 9, 9}}, 5, 0},
		// Substitution preferred over a del+ins pair of the same cost.
		{"sub not del+ins", "aXb", "aYb", []Op{{Sub, 1, 1}}, 1, 1},
		// Suffix stripping never overlaps the prefix.
		{"overlap", "aa", "aaa", []Op{{Ins, 2, 2}}, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y, yb := toks(c.y), toks(c.yb)
			es := Diff(y, yb)
			if !slices.Equal(es.Ops, c.ops) {
				t.Fatalf("ops = %v, want %v", es.Ops, c.ops)
			}
			if es.Prefix != c.prefix || es.Suffix != c.suff {
				t.Fatalf("prefix/suffix = %d/%d, want %d/%d", es.Prefix, es.Suffix, c.prefix, c.suff)
			}
			got, err := Apply(y, es, yb)
			if err != nil || !slices.Equal(got, yb) {
				t.Fatalf("Apply = %q, %v; want %q", got, err, c.yb)
			}
		})
	}
}

func TestNormDistanceAndFirstDivergence(t *testing.T) {
	cases := []struct {
		y, yb string
		dist  float64
		tstar int
	}{
		{"abc", "abc", 0, -1},
		{"", "", 0, -1},
		{"abcd", "abXd", 0.25, 2},
		{"", "abcd", 1, 0},
		{"wxyz", "abcd", 1, 0},
		{"ab", "abcd", 0.5, 2},
	}
	for _, c := range cases {
		es := Diff(toks(c.y), toks(c.yb))
		if d := es.NormDistance(); d != c.dist {
			t.Errorf("%q→%q: Δ̄ = %v, want %v", c.y, c.yb, d, c.dist)
		}
		if ts := es.FirstDivergence(); ts != c.tstar {
			t.Errorf("%q→%q: t* = %d, want %d", c.y, c.yb, ts, c.tstar)
		}
	}
}

// randPair draws two related sequences over a small alphabet: yb is y with a
// few random edits, so common prefixes and suffixes are frequent.
func randPair(rng *rand.Rand) (y, yb []int32) {
	n := rng.IntN(24)
	alpha := int32(2 + rng.IntN(5))
	y = make([]int32, n)
	for i := range y {
		y[i] = rng.Int32N(alpha)
	}
	yb = slices.Clone(y)
	for e := rng.IntN(5); e > 0; e-- {
		switch k := rng.IntN(3); {
		case k == 0 && len(yb) > 0:
			yb[rng.IntN(len(yb))] = rng.Int32N(alpha)
		case k == 1 && len(yb) > 0:
			i := rng.IntN(len(yb))
			yb = slices.Delete(yb, i, i+1)
		default:
			yb = slices.Insert(yb, rng.IntN(len(yb)+1), rng.Int32N(alpha))
		}
	}
	if rng.IntN(4) == 0 { // sometimes unrelated
		yb = yb[:rng.IntN(len(yb)+1)]
		for i := range yb {
			yb[i] = rng.Int32N(alpha)
		}
	}
	return y, yb
}

// checkScript verifies every invariant of §3.16 for one pair.
func checkScript(t *testing.T, y, yb []int32) {
	t.Helper()
	es := Diff(y, yb)
	got, err := Apply(y, es, yb)
	if err != nil || !slices.Equal(got, yb) {
		t.Fatalf("Apply(%v, Diff, %v) = %v, %v", y, yb, got, err)
	}
	if want := Levenshtein(y, yb); es.Len() != want {
		t.Fatalf("|E| = %d, Levenshtein = %d for %v→%v", es.Len(), want, y, yb)
	}
	if d := es.NormDistance(); d < 0 || d > 1 {
		t.Fatalf("Δ̄ = %v out of [0,1]", d)
	}
	ts := es.FirstDivergence()
	if ts < 0 {
		if !slices.Equal(y, yb) {
			t.Fatalf("t* = -1 for different sequences")
		}
		return
	}
	if !slices.Equal(y[:ts], yb[:ts]) {
		t.Fatalf("y[:t*] != yb[:t*] at t*=%d", ts)
	}
	if ts < len(y) && ts < len(yb) && y[ts] == yb[ts] {
		t.Fatalf("y[t*] == yb[t*] at t*=%d", ts)
	}
	if f := es.Ops[0]; f.I != ts || f.J != ts {
		t.Fatalf("first op %v not at t*=%d", f, ts)
	}
	for k := 1; k < len(es.Ops); k++ {
		if es.Ops[k].I < es.Ops[k-1].I || es.Ops[k].J < es.Ops[k-1].J {
			t.Fatalf("ops not ordered: %v", es.Ops)
		}
	}
}

func TestDiffProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 10000; it++ {
		y, yb := randPair(rng)
		checkScript(t, y, yb)
	}
}

func TestApplyRejectsBadScripts(t *testing.T) {
	y, yb := toks("abc"), toks("axc")
	good := Diff(y, yb)
	bad := []EditScript{
		{Ops: []Op{{Sub, 5, 1}}, N: 3, M: 3},
		{Ops: []Op{{Sub, 1, 2}}, N: 3, M: 3},
		{Ops: []Op{{Sub, 2, 2}, {Sub, 1, 1}}, N: 3, M: 3},
		{Ops: []Op{{OpKind(9), 1, 1}}, N: 3, M: 3},
		{Ops: good.Ops, N: 4, M: 3},
	}
	for i, es := range bad {
		if _, err := Apply(y, es, yb); err == nil {
			t.Errorf("case %d: Apply accepted a bad script", i)
		}
	}
}

func FuzzDiff(f *testing.F) {
	f.Add([]byte("3+5=8;8*2=17;#17"), []byte("3+5=8;8*2=16;#16"))
	f.Add([]byte(""), []byte("x"))
	f.Add([]byte("aaaa"), []byte("aa"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) > 200 || len(b) > 200 {
			return
		}
		y, yb := make([]int32, len(a)), make([]int32, len(b))
		for i, c := range a {
			y[i] = int32(c)
		}
		for i, c := range b {
			yb[i] = int32(c)
		}
		checkScript(t, y, yb)
	})
}

func BenchmarkDiff256(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	y := make([]int32, 256)
	for i := range y {
		y[i] = rng.Int32N(16)
	}
	yb := slices.Clone(y)
	for i := 40; i < 200; i += 7 {
		yb[i] = rng.Int32N(16)
	}
	for b.Loop() {
		Diff(y, yb)
	}
}
