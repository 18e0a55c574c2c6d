package task

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestT2Examples(t *testing.T) {
	tk := NewT2()
	cases := []struct{ prompt, solution string }{
		{"4821+379", "1+9+0=10c1;2+7+1=10c1;8+3+1=12c1;4+0+1=5c0;#5200"}, // METHOD.md §6
		{"99+1", "9+1+0=10c1;9+0+1=10c1;#100"},
		{"0+0", "0+0+0=0c0;#0"},
		{"5+17", "5+7+0=12c1;0+1+1=2c0;#22"},
	}
	for _, c := range cases {
		p := Problem{Prompt: c.prompt}
		if r := tk.Reward(p, c.solution); r != 1 {
			t.Errorf("Reward(%q, %q) = %v", c.prompt, c.solution, r)
		}
		if k := tk.FirstWrongStep(p, c.solution); k != -1 {
			t.Errorf("FirstWrongStep(%q, %q) = %d", c.prompt, c.solution, k)
		}
		if !tk.WellFormed(p, c.solution) {
			t.Errorf("WellFormed(%q) = false", c.solution)
		}
	}
	for _, s := range []string{"1+9+0=10c1", "9+9+1=19c1", "0+0+0=0c0"} {
		if !t2Step(s) {
			t.Errorf("t2Step(%q) = false", s)
		}
	}
	for _, s := range []string{"1+9+2=12c1", "1+9+0=20c1", "1+9+0=05c0", "1+9+0=10c2", "19+0+0=19c1", "1+9+0=10", "1-9+0=10c1"} {
		if t2Step(s) {
			t.Errorf("t2Step(%q) = true", s)
		}
	}
}

func TestT2GeneratedAnswers(t *testing.T) {
	tk := NewT2()
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range 500 {
		d := 1 + i%20
		p := tk.Generate(rng, d)
		xs, ys, _ := strings.Cut(p.Prompt, "+")
		x, _ := new(big.Int).SetString(xs, 10)
		y, _ := new(big.Int).SetString(ys, 10)
		if want := new(big.Int).Add(x, y).String(); p.Answer != want {
			t.Fatalf("%q: answer %s, want %s", p.Prompt, p.Answer, want)
		}
		if len(xs) != d || len(ys) > d || (len(xs) > 1 && xs[0] == '0') || (len(ys) > 1 && ys[0] == '0') {
			t.Fatalf("difficulty %d: bad operands %q", d, p.Prompt)
		}
	}
}
