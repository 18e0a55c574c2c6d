package task

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestT7Example(t *testing.T) {
	tk := NewT7()
	p := Problem{Prompt: "3 7 25 50 =78"} // METHOD.md §6
	cases := []struct {
		response string
		reward   float64
		first    int
	}{
		{"50+25=75;75+3=78;#78", 1, -1},
		{"25+3=28;28+50=78;#78", 1, -1},       // an alternative solution
		{"7*3=21;50+25=75;75+3=78;#78", 0, 2}, // 3 used twice
		{"50+28=78;#78", 0, 0},                // 28 not available
		{"50+25=76;76+3=79;#79", 0, 0},        // wrong arithmetic
		{"50+25=75;75+3=78;#77", 0, 2},        // wrong answer
		{"50+25=75;75-3=72;#72", 0, 2},        // valid, but not the target
		{"50+25=75;75+3=78", 0, 2},            // no answer
		{"7-25=0;#78", 0, 0},                  // negative
		{"25/3=8;#8", 0, 0},                   // remainder
		{"50+25=75;75+3=78;#78#78", 0, 2},     // two answers
		{"#78", 0, 0},
	}
	for _, c := range cases {
		if r := tk.Reward(p, c.response); r != c.reward {
			t.Errorf("Reward(%q) = %v, want %v", c.response, r, c.reward)
		}
		if k := tk.FirstWrongStep(p, c.response); k != c.first {
			t.Errorf("FirstWrongStep(%q) = %d, want %d", c.response, k, c.first)
		}
	}
	if !tk.WellFormed(p, "50/25=2;#2") || tk.WellFormed(p, "50%25=0;#0") {
		t.Error("WellFormed grammar")
	}
}

func TestT7Generated(t *testing.T) {
	tk := NewT7()
	rng := rand.New(rand.NewPCG(10, 10))
	for i := range 500 {
		n := 2 + i%7
		p := tk.Generate(rng, n)
		f := strings.Fields(p.Prompt)
		if len(f) != n+1 || f[n] != "="+p.Answer {
			t.Fatalf("prompt %q for %d numbers, answer %s", p.Prompt, n, p.Answer)
		}
		for _, s := range f[:n] {
			if s == p.Answer {
				t.Fatalf("%q: target is a given number", p.Prompt)
			}
		}
		for _, s := range BodySteps(p.Solution) {
			_, c, _ := strings.Cut(s, "=")
			if v, _ := strconv.Atoi(c); v < 1 || v > maxT7Value {
				t.Fatalf("%q: value %d out of range in %q", p.Prompt, v, p.Solution)
			}
		}
	}
}
