package task

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestT1Examples(t *testing.T) {
	tk, _ := NewT1(0)
	cases := []struct{ prompt, solution string }{
		{"3 +5 *2 -7 %97", "3+5=8;8*2=16;16-7=9;#9"}, // METHOD.md §6
		{"3 -7 %97", "3-7=93;#93"},                   // reduced into [0, m)
		{"9 *9 *9 %10", "9*9=1;1*9=9;#9"},
		{"50 +60 %101", "50+60=9;#9"},
	}
	for _, c := range cases {
		p := Problem{Prompt: c.prompt}
		if r := tk.Reward(p, c.solution); r != 1 {
			t.Errorf("Reward(%q, %q) = %v", c.prompt, c.solution, r)
		}
		if k := tk.FirstWrongStep(p, c.solution); k != -1 {
			t.Errorf("FirstWrongStep(%q, %q) = %d", c.prompt, c.solution, k)
		}
	}
	p := Problem{Prompt: "3 +5 *2 -7 %97"}
	for resp, want := range map[string]int{
		"3+5=8;8*2=17;17-7=10;#10":       1,
		"3+5=9;9*2=18;18-7=11;#11":       0,
		"3+5=8;8*2=16;16-7=9;#8":         3,
		"3+5=8;8*2=16;#16":               2,
		"3+5=8;8*2=16;16-7=9;9+1=10;#10": 3,
	} {
		if k := tk.FirstWrongStep(p, resp); k != want {
			t.Errorf("FirstWrongStep(%q) = %d, want %d", resp, k, want)
		}
	}
	for _, bad := range []string{"3 +5 *2 -7", "3 +5 %1", "3 /5 %97", "x +5 %97", "3 +5  %97", ""} {
		if r := tk.Reward(Problem{Prompt: bad}, "#1"); r != 0 {
			t.Errorf("Reward on bad prompt %q = %v", bad, r)
		}
	}
}

// evalT1 evaluates a T1 prompt independently of the task code.
func evalT1(t *testing.T, prompt string) int {
	f := strings.Fields(prompt)
	m, err := strconv.Atoi(strings.TrimPrefix(f[len(f)-1], "%"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(f[0])
	for _, s := range f[1 : len(f)-1] {
		x, _ := strconv.Atoi(s[1:])
		switch s[0] {
		case '+':
			v += x
		case '-':
			v -= x
		case '*':
			v *= x
		}
		v = ((v % m) + m) % m
	}
	return v
}

func TestT1GeneratedAnswers(t *testing.T) {
	for _, mod := range []int{97, 10, 1000} {
		tk, err := NewT1(mod)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, uint64(mod)))
		for i := range 300 {
			p := tk.Generate(rng, 1+i%10)
			if !strings.HasSuffix(p.Prompt, " %"+strconv.Itoa(mod)) {
				t.Fatalf("prompt %q lacks the modulus %d", p.Prompt, mod)
			}
			if want := strconv.Itoa(evalT1(t, p.Prompt)); p.Answer != want {
				t.Fatalf("%q: answer %s, want %s", p.Prompt, p.Answer, want)
			}
			// Multipliers are coprime with the modulus.
			for _, s := range strings.Fields(p.Prompt)[1:] {
				if x, _ := strconv.Atoi(s[1:]); s[0] == '*' && gcd(x, mod) != 1 {
					t.Fatalf("%q: multiplier %d shares a factor with %d", p.Prompt, x, mod)
				}
			}
		}
	}
}

// TestT1CheckSteps: with task.step_check arith every step's arithmetic must
// hold modulo the problem's modulus; a miscopied operand computed right
// passes (no reference is read); off, every response passes.
func TestT1CheckSteps(t *testing.T) {
	p := Problem{Prompt: "3 +5 *2 -7 %13"} // 3+5=8; 8*2=16=3; 3-7=-4=9
	for _, tc := range []struct {
		name, response string
		want           bool
	}{
		{"canonical", "3+5=8;8*2=3;3-7=9;#9", true},
		{"wrong sum", "3+5=11;11*2=9;9-7=2;#2", false},
		{"unreduced", "3+5=8;8*2=16;16-7=9;#9", false},
		{"miscopied operand computed right", "3+6=9;9*2=5;5-7=11;#11", true},
		{"answer wrong, steps right", "3+5=8;8*2=3;3-7=9;#4", true},
		{"no steps", "#9", false},
		{"not an equation", "3+5;#8", false},
	} {
		t1, err := NewT1(13)
		if err != nil {
			t.Fatal(err)
		}
		if !t1.CheckSteps(p, tc.response) {
			t.Errorf("%s: checker off rejected %q", tc.name, tc.response)
		}
		if err := t1.SetStepCheck("arith"); err != nil {
			t.Fatal(err)
		}
		if got := t1.CheckSteps(p, tc.response); got != tc.want {
			t.Errorf("%s: CheckSteps(%q) = %v, want %v", tc.name, tc.response, got, tc.want)
		}
	}
	t1, _ := NewT1(13)
	if err := t1.SetStepCheck("arith,form"); err == nil || !strings.Contains(err.Error(), "task.step_check") {
		t.Errorf("t1 with form: error %v, want one naming task.step_check", err)
	}
	// Every canonical trace passes.
	rng := rand.New(rand.NewPCG(1, 2))
	_ = t1.SetStepCheck("arith")
	for range 200 {
		q := t1.Generate(rng, 1+rng.IntN(10))
		if !t1.CheckSteps(q, q.Solution) {
			t.Fatalf("canonical trace %q of %q fails the checker", q.Solution, q.Prompt)
		}
	}
}
