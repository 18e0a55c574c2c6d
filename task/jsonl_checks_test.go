package task

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// recProblem is a recurrence problem as scripts/recurrence writes it.
func recProblem() Problem {
	return Problem{Prompt: "x=6 (x*7+10)%11 n=4",
		Solution: "(6*7+10)%11=8;(8*7+10)%11=0;(0*7+10)%11=10;(10*7+10)%11=3;#3", Answer: "3"}
}

func TestCheckArithStep(t *testing.T) {
	for _, c := range []struct {
		step string
		want bool
	}{
		{"(6*7+10)%11=8", true},
		{"(6*7+10)%11=9", false},
		{"3+4*2=11", true},
		{"(3+4)*2=14", true},
		{"7/2=3", true},
		{"-7%3=-1", true},
		{"2-5=-3", true},
		{" 2 + 3 = 5 ", true},
		{"6=2*3=3+3", true},
		{"6=2*3=3+4", false},
		{"1/0=0", false},
		{"5%0=0", false},
		{"5", false},
		{"x+1=2", false},
		{"(1+2=3", false},
		{"1+2)=3", false},
		{"1234567890*2=2469135780", false}, // more digits than maxNumDigits
		{"99999999*99999999*99999999=0", false},
	} {
		if got := CheckArithStep(c.step); got != c.want {
			t.Errorf("CheckArithStep(%q) = %v, want %v", c.step, got, c.want)
		}
	}
}

func TestProvenance(t *testing.T) {
	p := recProblem()
	for _, c := range []struct {
		name, response string
		want           bool
	}{
		{"reference", p.Solution, true},
		{"wrong result, right operands", "(6*7+10)%11=9;(9*7+10)%11=7;#7", true},
		{"operand not in the prompt", "(6*7+12)%11=10;#10", false},
		{"operand from a later step", "(6*7+10)%11=8;(5*7+10)%11=1;#1", false},
		{"steps without '=' are not judged", "think;#3", true},
	} {
		if got := provenanceHolds(p.Prompt, c.response); got != c.want {
			t.Errorf("%s: provenanceHolds = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCalibrateProvenance(t *testing.T) {
	rec, _ := NewJSONLProblems([]Problem{recProblem()}, nil, nil)
	if !rec.Provenance() || rec.FromPrompt(recProblem(), "(6*7+12)%11=10;#10") {
		t.Fatalf("recurrence data: provenance %v, want on and enforced", rec.Provenance())
	}
	// An implicit constant (60) makes the rule inapplicable: FromPrompt
	// then accepts everything.
	hours := Problem{Prompt: "2 hours in minutes?", Solution: "2*60=120;#120", Answer: "120"}
	h, _ := NewJSONLProblems([]Problem{hours}, nil, nil)
	if h.Provenance() || !h.FromPrompt(hours, "2*61=122;#122") {
		t.Fatalf("data with implicit constants: provenance %v, want off", h.Provenance())
	}
}

func TestKeepsCopies(t *testing.T) {
	j, _ := NewJSONLProblems([]Problem{recProblem()}, nil, nil)
	p := recProblem()
	failed := "(6*7+10)%11=9;(9*7+10)%11=7;#7"
	for _, c := range []struct {
		name, repaired string
		want           bool
	}{
		{"fixes the result", "(6*7+10)%11=8;(8*7+10)%11=0;#0", true},
		{"changes a copied operand", "(6*7+9)%11=7;(9*7+10)%11=7;#7", false},
		{"changes the modulus", "(6*7+10)%13=9;(9*7+10)%11=7;#7", false},
		{"shorter repair", "(6*7+10)%11=8;#8", true},
	} {
		if got := j.KeepsCopies(p, failed, c.repaired); got != c.want {
			t.Errorf("%s: KeepsCopies = %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		prompt, step string
		want         []string
	}{
		{p.Prompt, "(6*7+10)%11=9", []string{"*7+10)%11"}},
		// A computed 12 ending in the coefficient 2 is no copy of "2+4".
		{"x=3 (x*2+4)%7 n=3", "12+4=16", nil},
		// Too short to tell a copy from a coincidence.
		{"x=3 (x*6+4)%7 n=3", "6+4=10", nil},
		// Aligned in the step but cut out of a number in the prompt.
		{"x=3 (x*16+4)%7", "(6+4)%7=3", []string{"+4)%7"}},
	} {
		if got := promptSpans(c.prompt, c.step); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("promptSpans(%q, %q) = %q, want %q", c.prompt, c.step, got, c.want)
		}
	}
}

func TestSetStepCheck(t *testing.T) {
	good := writeFile(t, "good.jsonl", `{"prompt":"x=6 (x*7+10)%11 n=1","solution":"(6*7+10)%11=8;#8","answer":"8"}`+"\n")
	bad := writeFile(t, "bad.jsonl", `{"prompt":"x=6 (x*7+10)%11 n=1","solution":"(6*7+10)%11=8;#8","answer":"8"}`+"\n"+
		`{"prompt":"x=1 (x*2+1)%5 n=1","solution":"(1*2+1)%5=4;#4","answer":"4"}`+"\n")
	j, err := NewJSONL(good, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.SetStepCheck("arith"); err != nil {
		t.Fatalf("SetStepCheck on good data: %v", err)
	}
	if j.CheckSteps(recProblem(), "(6*7+10)%11=9;#9") || !j.CheckSteps(recProblem(), "(6*7+10)%11=8;#8") {
		t.Error("CheckSteps does not apply the arith checker")
	}
	if err := j.SetStepCheck("magic"); err == nil || !strings.Contains(err.Error(), "task.step_check") {
		t.Errorf("unknown checker: %v", err)
	}
	jb, err := NewJSONL(bad, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := jb.SetStepCheck("arith"); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("a solution failing the checker: %v, want an error naming bad.jsonl:2", err)
	}
}

// TestInjectPropagated checks the arith injector: step k gets a wrong
// result, every later step is a true equation computed from it, the answer
// follows, and the oracle puts the first wrong step at k.
func TestInjectPropagated(t *testing.T) {
	j, _ := NewJSONLProblems([]Problem{recProblem()}, nil, nil)
	if err := j.SetStepCheck("arith"); err != nil {
		t.Fatal(err)
	}
	p := recProblem()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		k := trial % 4
		out, ok := j.InjectError(rng, p, k)
		if !ok {
			t.Fatalf("InjectError(k=%d) failed", k)
		}
		steps, ans, ok := ParseTrace(out)
		if !ok || len(steps) != 4 {
			t.Fatalf("injected %q is not a 4-step trace", out)
		}
		for i, s := range steps {
			if got := CheckArithStep(s); got != (i != k) {
				t.Fatalf("injected %q: step %d holds = %v (k=%d)", out, i, got, k)
			}
		}
		if _, last, _ := splitEquation(steps[3]); last != ans {
			t.Fatalf("injected %q: answer %q is not the last result", out, ans)
		}
		if w := j.FirstWrongStep(p, out); w != k {
			t.Fatalf("injected %q: first wrong step %d, want %d", out, w, k)
		}
		if !provenanceHolds(p.Prompt, out) {
			t.Fatalf("injected %q breaks provenance: a propagated error keeps it", out)
		}
	}
}
