package task

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestT4Example(t *testing.T) {
	tk := NewT4()
	p := Problem{Prompt: "a=3;b=a+4;c=b*2;d=c-a;?d"} // METHOD.md §6
	sol := "a=3;b=7;c=14;d=11;#11"
	if tk.Reward(p, sol) != 1 || tk.FirstWrongStep(p, sol) != -1 || !tk.WellFormed(p, sol) {
		t.Errorf("example solution %q rejected", sol)
	}
	if got := tk.OnPath(p); !slices.Equal(got, []bool{true, true, true, true}) {
		t.Errorf("OnPath = %v", got)
	}
	p = Problem{Prompt: "a=3;b=a*2;c=5;d=b+1;?d"}
	if got := tk.OnPath(p); !slices.Equal(got, []bool{true, true, false, true}) {
		t.Errorf("OnPath with off-path c = %v", got)
	}
	offErr := "a=3;b=6;c=4;d=7;#7"
	if tk.Reward(p, offErr) != 1 || tk.FirstWrongStep(p, offErr) != 2 {
		t.Errorf("off-path error %q: reward %v, first wrong %d", offErr, tk.Reward(p, offErr), tk.FirstWrongStep(p, offErr))
	}
	if !tk.WellFormed(p, "a=3;b=-6;#-6") || tk.WellFormed(p, "a=3;B=6;#6") || tk.WellFormed(p, "a=3;b=;#6") {
		t.Error("WellFormed grammar")
	}
	for _, bad := range []string{"a=3;?b", "a=3;b=a+4", "a=b;?a", "A=1;?A", "a=3;b=a/2;?b", "a=12345;?a"} {
		if tk.OnPath(Problem{Prompt: bad}) != nil {
			t.Errorf("prompt %q parsed", bad)
		}
	}
	// A redefined variable reads its latest value.
	p = Problem{Prompt: "a=1;a=a+1;b=a*3;?b"}
	if r := tk.Reward(p, "a=1;a=2;b=6;#6"); r != 1 {
		t.Errorf("redefinition: reward %v", r)
	}
}

// evalT4 evaluates a T4 prompt independently of the task code.
func evalT4(prompt string) int {
	env := map[string]int{}
	segs := strings.Split(prompt, ";")
	val := func(s string) int {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
		return env[s]
	}
	for _, s := range segs[:len(segs)-1] {
		lhs, rhs, _ := strings.Cut(s, "=")
		i := strings.IndexAny(rhs, "+-*")
		if i < 0 {
			env[lhs] = val(rhs)
			continue
		}
		x, y := val(rhs[:i]), val(rhs[i+1:])
		switch rhs[i] {
		case '+':
			env[lhs] = x + y
		case '-':
			env[lhs] = x - y
		default:
			env[lhs] = x * y
		}
	}
	return env[strings.TrimPrefix(segs[len(segs)-1], "?")]
}

func TestT4Generated(t *testing.T) {
	tk := NewT4()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 500 {
		n := 1 + i%26
		p := tk.Generate(rng, n)
		if want := strconv.Itoa(evalT4(p.Prompt)); p.Answer != want {
			t.Fatalf("%q: answer %s, want %s", p.Prompt, p.Answer, want)
		}
		off := 0
		for _, on := range tk.OnPath(p) {
			if !on {
				off++
			}
		}
		if n >= 3 && (off < 1 || off > n/3) || n < 3 && off != 0 {
			t.Fatalf("%q: %d off-path lines for %d lines", p.Prompt, off, n)
		}
		for _, s := range BodySteps(p.Solution) {
			if v, _ := strconv.Atoi(s[2:]); v < 0 || v > maxT4Value {
				t.Fatalf("%q: value %d out of range", p.Prompt, v)
			}
		}
	}
}
