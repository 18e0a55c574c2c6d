package task

import (
	"strings"
	"testing"
)

// TestFormRepairs compares hand-written repairs of recurrence failures
// (the step format of scripts/recurrence) with their anchor, the correct
// trace. The degenerate repairs that the arith step checker lets through
// (arithmetic that holds, operands from the prompt or earlier results,
// the right answer) must disagree; a real repair must agree.
func TestFormRepairs(t *testing.T) {
	for _, c := range []struct {
		name, prompt, anchor, repair string
		want                         bool
	}{
		{"legitimate repair: the failure's 55%11=1 fixed, later steps re-derived",
			"x=5 (x*10+5)%11 n=2", "5*10=50;50+5=55;55%11=0;0*10=0;0+5=5;5%11=5;#5",
			"5*10=50;50+5=55;55%11=0;0*10=0;0+5=5;5%11=5;#5", true},
		{"spaces and leading zeros are formatting",
			"x=5 (x*10+5)%11 n=2", "5*10=50;50+5=55;55%11=0;0*10=0;0+5=5;5%11=5;#5",
			"5 * 10 = 50;50+05=55;55%11=0;0*10=0;0+5=5;5%11=05;#5", true},
		{"extra iteration on the fixed point 10 -> 10",
			"x=10 (x*6+5)%11 n=2", "10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;#10",
			"10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;#10", false},
		{"skipped iteration on the fixed point 9 -> 9",
			"x=9 (x*4+6)%11 n=3", "9*4=36;36+6=42;42%11=9;9*4=36;36+6=42;42%11=9;9*4=36;36+6=42;42%11=9;#9",
			"9*4=36;36+6=42;42%11=9;9*4=36;36+6=42;42%11=9;#9", false},
		{"wrong multiplier on 0: 0*5=0 for 0*10=0",
			"x=5 (x*10+5)%11 n=2", "5*10=50;50+5=55;55%11=0;0*10=0;0+5=5;5%11=5;#5",
			"5*10=50;50+5=55;55%11=0;0*5=0;0+5=5;5%11=5;#5", false},
		{"wrong multiplier on 0 in the first step: 0*8=0 for 0*6=0",
			"x=0 (x*6+8)%11 n=2", "0*6=0;0+8=8;8%11=8;8*6=48;48+8=56;56%11=1;#1",
			"0*8=0;0+8=8;8%11=8;8*6=48;48+8=56;56%11=1;#1", false},
		{"operands swapped: order is part of the form",
			"x=2 (x*10+2)%11 n=1", "2*10=20;20+2=22;22%11=0;#0",
			"10*2=20;20+2=22;22%11=0;#0", false},
		{"a later iteration starting from x instead of the last result",
			"x=8 (x*2+8)%11 n=2", "8*2=16;16+8=24;24%11=2;2*2=4;4+8=12;12%11=1;#1",
			"8*2=16;16+8=24;24%11=2;8*2=16;16+8=24;24%11=2;#1", false},
		{"an operator changed",
			"x=5 (x*10+5)%11 n=1", "5*10=50;50+5=55;55%11=0;#0",
			"5*10=50;50-5=45;55%11=0;#0", false},
	} {
		a, r := ResponseForm(c.prompt, c.anchor), ResponseForm(c.prompt, c.repair)
		if got := r.Agrees(a); got != c.want {
			t.Errorf("%s: Agrees = %v, want %v", c.name, got, c.want)
		}
		if r.Agrees(a) != a.Agrees(r) {
			t.Errorf("%s: Agrees is not symmetric", c.name)
		}
		if !a.Agrees(a) || !r.Agrees(r) {
			t.Errorf("%s: a form does not agree with itself", c.name)
		}
	}
}

// TestFormReadings pins the readings of an operand: the most recent step
// with its value, the value itself when the prompt holds it, and the
// handling of a value that is both (two admissible readings).
func TestFormReadings(t *testing.T) {
	const prompt = "x=6 (x*2+0)%7 n=2"
	cases := []struct {
		name string
		a, b string
		want bool
	}{
		// 6*2=12;12+0=12: the 12 of step 2 is step 1's result (the most
		// recent 12), not step 0's; a trace whose step 1 ends in 13 makes
		// the same 12 step 0's, a different reading.
		{"most recent step", "6*2=12;12+0=12;12%7=5;#5", "6*2=12;12+0=13;12%7=5;#5", false},
		// Values that are only results agree by step, whatever the value:
		// the form abstracts computed values away.
		{"results agree by step", "6*2=12;12+0=12;#12", "6*2=13;13+0=13;#13", true},
		// The 6 of "6*2" is both x (prompt) and step 0's result in
		// "3+3=6": two readings, {step 0, constant 6}. It agrees with a
		// trace whose step 0 gives 5 and that reads 6 from the prompt
		// (shared constant 6) and with one that uses step 0's 5 (shared
		// step 0); those two disagree with each other.
		{"ambiguous vs prompt reading", "3+3=6;6*2=12;#12", "3+3=5;6*2=12;#12", true},
		{"ambiguous vs step reading", "3+3=6;6*2=12;#12", "3+3=5;5*2=10;#10", true},
		{"prompt vs step reading", "3+3=5;6*2=12;#12", "3+3=5;5*2=10;#10", false},
		// An unsourced number keeps its value.
		{"unsourced numbers by value", "9*2=18;#18", "9*2=18;#18", true},
		{"unsourced numbers differ", "9*2=18;#18", "8*2=16;#16", false},
		// Steps without '=' are shapes too.
		{"free text step", "double 6;6*2=12;#12", "double 6;6*2=12;#12", true},
		{"free text differs", "double 6;6*2=12;#12", "triple 6;6*2=12;#12", false},
		{"results of a multi-part step", "6*2=12=12;12%7=5;#5", "6*2=12=12;12%7=5;#5", true},
		{"step count", "6*2=12;#12", "6*2=12;12+0=12;#12", false},
	}
	for _, c := range cases {
		if got := ResponseForm(prompt, c.a).Agrees(ResponseForm(prompt, c.b)); got != c.want {
			t.Errorf("%s: Agrees(%q, %q) = %v, want %v", c.name, c.a, c.b, got, c.want)
		}
	}
	if n := ResponseForm(prompt, "6*2=12;12+0=12;#12").Steps(); n != 2 {
		t.Errorf("Steps = %d, want 2", n)
	}
}

// TestFormMajority: which correct siblings may be anchors, from the
// pairwise agreement of their forms (classes by letter; "ab" agrees with
// both a and b, the non-transitive case of an ambiguous operand).
func TestFormMajority(t *testing.T) {
	agreeOf := func(forms []string) func(a, b int) bool {
		return func(a, b int) bool { return strings.ContainsAny(forms[a], forms[b]) }
	}
	for _, c := range []struct {
		name  string
		forms []string
		want  string // kept responses, one 1/0 each
	}{
		{"none", nil, ""},
		{"single: kept unchecked", []string{"a"}, "1"},
		{"two agreeing", []string{"a", "a"}, "11"},
		{"one against one: a tie rejects both", []string{"a", "b"}, "00"},
		{"minority rejected", []string{"a", "b", "a"}, "101"},
		{"two against two: a tie", []string{"a", "b", "b", "a"}, "0000"},
		{"plurality among three forms", []string{"a", "b", "a", "c"}, "1010"},
		{"ambiguous form agreed by all", []string{"ab", "a", "b"}, "100"},
		{"ambiguous form joins the majority", []string{"ab", "a", "a", "b"}, "1110"},
	} {
		keep := FormMajority(len(c.forms), agreeOf(c.forms))
		var got strings.Builder
		for _, k := range keep {
			if k {
				got.WriteByte('1')
			} else {
				got.WriteByte('0')
			}
		}
		if got.String() != c.want {
			t.Errorf("%s: kept %q, want %q", c.name, got.String(), c.want)
		}
	}
}

func TestParseStepCheck(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    StepCheck
		wantErr string
	}{
		{"", StepCheck{}, ""},
		{"arith", StepCheck{Arith: true}, ""},
		{"form", StepCheck{Form: true}, ""},
		{"arith,form", StepCheck{Arith: true, Form: true}, ""},
		{"form, arith", StepCheck{Arith: true, Form: true}, ""},
		{"magic", StepCheck{}, `task.step_check: "magic"`},
		{"arith,", StepCheck{}, `task.step_check: "" in "arith,"`},
		{"arith,arith", StepCheck{}, "names arith twice"},
	} {
		got, err := ParseStepCheck(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseStepCheck(%q) error %v, want one containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseStepCheck(%q) = %+v, %v, want %+v", c.in, got, err, c.want)
		}
	}
}

// TestSetStepCheckForm: form turns the check on (and arith only with it);
// a prompt whose training solutions differ in form is an error naming the
// key and both lines.
func TestSetStepCheckForm(t *testing.T) {
	good := writeFile(t, "good.jsonl",
		`{"prompt":"x=5 (x*10+5)%11 n=1","solution":"5*10=50;50+5=55;55%11=0;#0","answer":"0"}`+"\n"+
			`{"prompt":"x=5 (x*10+5)%11 n=1","solution":"5 * 10=50;50+5=55;55%11=0;#0","answer":"0"}`+"\n")
	j, err := NewJSONL(good, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.SetStepCheck("form"); err != nil {
		t.Fatalf("SetStepCheck(form) on one-form data: %v", err)
	}
	if !j.FormCheck() || !j.CheckSteps(recProblem(), "1+1=3;#3") {
		t.Errorf("form alone: FormCheck %v, and the arith checker must stay off", j.FormCheck())
	}
	if err := j.SetStepCheck("arith,form"); err != nil || !j.FormCheck() || j.CheckSteps(recProblem(), "1+1=3;#3") {
		t.Errorf("arith,form: %v, FormCheck %v", err, j.FormCheck())
	}
	if err := j.SetStepCheck(""); err != nil || j.FormCheck() {
		t.Errorf("none: %v, FormCheck %v", err, j.FormCheck())
	}
	bad := writeFile(t, "bad.jsonl",
		`{"prompt":"x=5 (x*10+5)%11 n=1","solution":"5*10=50;50+5=55;55%11=0;#0","answer":"0"}`+"\n"+
			`{"prompt":"x=2 (x*3+1)%7 n=1","solution":"2*3=6;6+1=7;7%7=0;#0","answer":"0"}`+"\n"+
			`{"prompt":"x=5 (x*10+5)%11 n=1","solution":"10*5=50;50+5=55;55%11=0;#0","answer":"0"}`+"\n")
	jb, err := NewJSONL(bad, "", "")
	if err != nil {
		t.Fatal(err)
	}
	err = jb.SetStepCheck("arith,form")
	if err == nil || !strings.Contains(err.Error(), "task.step_check form") ||
		!strings.Contains(err.Error(), "bad.jsonl:1") || !strings.Contains(err.Error(), "bad.jsonl:3") {
		t.Errorf("two forms of one prompt: %v, want an error naming task.step_check form, bad.jsonl:1 and :3", err)
	}
	if jb.FormCheck() {
		t.Error("a failed SetStepCheck turned the form check on")
	}
}
