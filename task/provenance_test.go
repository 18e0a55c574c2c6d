package task

import (
	"math/rand/v2"
	"testing"
)

func TestFromPrompt(t *testing.T) {
	t1, err := NewT1(7)
	if err != nil {
		t.Fatal(err)
	}
	t2 := NewT2()
	p1 := Problem{Prompt: "8 +9 +3 +5 %7"}
	p2 := Problem{Prompt: "4821+379"}
	cases := []struct {
		name string
		tk   FromPrompter
		p    Problem
		resp string
		want bool
	}{
		{"t1 canonical", t1, p1, "1+9=3;3+3=6;6+5=4;#4", true},
		{"t1 wrong result, operands copied", t1, p1, "1+9=3;3+3=5;5+5=3;#3", true},
		{"t1 right answer, argument miscopied", t1, p1, "1+9=3;3+4=0;0+4=4;#4", false},
		{"t1 wrong operator", t1, p1, "1+9=3;3*3=2;2+5=0;#0", false},
		{"t1 missing step", t1, p1, "1+9=3;3+3=6;#6", false},
		{"t1 not a trace", t1, p1, "4", false},
		{"t2 canonical", t2, p2, "1+9+0=10c1;2+7+1=10c1;8+3+1=12c1;4+0+1=5c0;#5200", true},
		{"t2 wrong carry, digits copied", t2, p2, "1+9+0=10c0;2+7+0=9c0;8+3+0=11c1;4+0+1=5c0;#5190", true},
		{"t2 misread digit", t2, p2, "1+9+0=10c1;2+7+1=10c1;8+4+1=13c1;4+0+1=5c0;#5300", false},
		{"t2 extra column", t2, p2, "1+9+0=10c1;2+7+1=10c1;8+3+1=12c1;4+0+1=5c0;0+0+0=0c0;#5200", false},
	}
	for _, tc := range cases {
		if got := tc.tk.FromPrompt(tc.p, tc.resp); got != tc.want {
			t.Errorf("%s: FromPrompt(%q) = %v, want %v", tc.name, tc.resp, got, tc.want)
		}
	}
	// Every generated canonical trace passes. T1 injects both of its error
	// kinds: wrong results (operands still copied: pass) and miscopied
	// arguments (fail).
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := map[bool]int{}
	for i := range 200 {
		p := t1.Generate(rng, 1+i%5)
		if !t1.FromPrompt(p, p.Solution) {
			t.Fatalf("T1 canonical %q of %q fails", p.Solution, p.Prompt)
		}
		if bad, ok := t1.InjectError(rng, p, rng.IntN(len(Steps(p.Solution))-1)); ok {
			kinds[t1.FromPrompt(p, bad)]++
		}
		q := t2.Generate(rng, 1+i%5)
		if !t2.FromPrompt(q, q.Solution) {
			t.Fatalf("T2 canonical %q of %q fails", q.Solution, q.Prompt)
		}
	}
	if kinds[true] < 50 || kinds[false] < 50 {
		t.Errorf("T1 injected %d wrong results and %d miscopied arguments; want both kinds", kinds[true], kinds[false])
	}
}
