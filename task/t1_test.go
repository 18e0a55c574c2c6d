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
