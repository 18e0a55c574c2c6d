package train

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/supervise"
	"github.com/sirl-dev/sirl/task"
)

// recurrenceFile writes a two-problem recurrence data set (the shape of
// scripts/recurrence) and returns its path.
func recurrenceFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	data := `{"prompt":"x=6 (x*7+10)%11 n=2","solution":"(6*7+10)%11=8;(8*7+10)%11=0;#0","answer":"0"}` + "\n" +
		`{"prompt":"x=2 (x*3+1)%7 n=2","solution":"(2*3+1)%7=0;(0*3+1)%7=1;#1","answer":"1"}` + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAnchorStepCheck: on jsonl data with the arith step checker, a correct
// answer reached through a step that does not hold is not used as the
// anchor; without the checker it is, being the closest correct sibling.
func TestAnchorStepCheck(t *testing.T) {
	for _, check := range []string{"arith", ""} {
		c := tinyConfig()
		c.Model.MaxSeq = 128
		c.Task.Name, c.Task.TrainFile, c.Task.StepCheck = "jsonl", recurrenceFile(t), check
		c.Task.HeldOut, c.Task.Hard = 1, 0
		c.RL.Algo, c.SIRL.Identify = "sirl", "sibling"
		e := tinyEnv(t, c)
		s, err := e.newSIRL()
		if err != nil {
			t.Fatal(err)
		}
		p := e.task.(*task.JSONL).TrainProblems()[0]
		lucky := "(6*7+10)%11=8;(8*7+10)%11=5;#0" // right answer, second step does not hold
		bad := "(6*7+10)%11=8;(8*7+10)%11=5;#5"
		g := group{prob: p, prompt: e.policyContext(p.Prompt)}
		for _, txt := range []string{p.Solution, lucky, bad} {
			g.samples = append(g.samples, rollout.Sample{Tokens: e.tok.Encode(txt), Finished: true})
			g.texts = append(g.texts, txt)
			g.rewards = append(g.rewards, e.task.Reward(p, txt))
		}
		if g.rewards[0] != 1 || g.rewards[1] != 1 || g.rewards[2] != 0 {
			t.Fatalf("rewards %v for %q", g.rewards, g.texts)
		}
		st := &rlStep{counters: map[string]float64{}, phase: map[string]float64{}}
		if err := s.build(e, rand.New(rand.NewPCG(1, 1)), []group{g}, st); err != nil {
			t.Fatal(err)
		}
		want := lucky
		if check != "" {
			want = p.Solution
		}
		if len(st.seqs) != 2 {
			t.Fatalf("step_check %q: %d sequences, want one pair", check, len(st.seqs))
		}
		if got := e.tok.Decode(st.seqs[1].Response); !strings.HasPrefix(got, want) {
			t.Errorf("step_check %q: correction %q, want %q", check, got, want)
		}
		if got := st.counters["sirl/anchors_rejected"]; (got == 1) != (check != "") {
			t.Errorf("step_check %q: anchors_rejected %v", check, got)
		}
	}
}

// fixedPointFile writes a recurrence data set (scripts/recurrence's step
// format) whose first problem has the fixed point 10 -> 10, and returns its
// path.
func fixedPointFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	data := `{"prompt":"x=10 (x*6+5)%11 n=2","solution":"10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;#10","answer":"10"}` + "\n" +
		`{"prompt":"x=5 (x*10+5)%11 n=2","solution":"5*10=50;50+5=55;55%11=0;0*10=0;0+5=5;5%11=5;#5","answer":"5"}` + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// formEnv is a tiny sirl env on fixedPointFile with task.step_check check.
func formEnv(t *testing.T, check, identify string) (*env, *sirlState) {
	t.Helper()
	c := tinyConfig()
	c.Model.MaxSeq = 256
	c.Task.MaxResponseLen = 100
	c.Task.Name, c.Task.TrainFile, c.Task.StepCheck = "jsonl", fixedPointFile(t), check
	c.Task.HeldOut, c.Task.Hard = 1, 0
	c.RL.Algo, c.SIRL.Identify = "sirl", identify
	e := tinyEnv(t, c)
	s, err := e.newSIRL()
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}

// TestAnchorForm: with the form check, a correct sibling that reaches the
// answer through an extra iteration on the fixed point (arithmetic holds)
// is in the minority against two correct traces and is not the anchor,
// although it is the failure's closest correct sibling; without the check
// it is.
func TestAnchorForm(t *testing.T) {
	for _, check := range []string{"arith,form", "arith"} {
		e, s := formEnv(t, check, "sibling")
		p := e.task.(*task.JSONL).TrainProblems()[0]
		extra := "10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;#10"
		failed := "10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=1;#1"
		g := group{prob: p, prompt: e.policyContext(p.Prompt)}
		for _, txt := range []string{p.Solution, extra, p.Solution, failed} {
			g.samples = append(g.samples, rollout.Sample{Tokens: e.tok.Encode(txt), Finished: true})
			g.texts = append(g.texts, txt)
			g.rewards = append(g.rewards, e.task.Reward(p, txt))
		}
		st := &rlStep{counters: map[string]float64{}, phase: map[string]float64{}}
		if err := s.build(e, rand.New(rand.NewPCG(1, 1)), []group{g}, st); err != nil {
			t.Fatal(err)
		}
		want, rejected := extra, 0.0
		if check != "arith" {
			want, rejected = p.Solution, 1
		}
		if len(st.seqs) != 2 {
			t.Fatalf("step_check %q: %d sequences, want one pair", check, len(st.seqs))
		}
		if got := e.tok.Decode(st.seqs[1].Response); !strings.HasPrefix(got, want) {
			t.Errorf("step_check %q: correction %q, want %q", check, got, want)
		}
		if got := st.counters["sirl/anchors_rejected"]; got != rejected {
			t.Errorf("step_check %q: anchors_rejected %v, want %v", check, got, rejected)
		}
		if got := st.counters["sirl/anchors_rejected_form"]; got != rejected {
			t.Errorf("step_check %q: anchors_rejected_form %v, want %v", check, got, rejected)
		}
	}
}

// TestAnchorFormTie: one correct trace against one degenerate one is a tie:
// with the form check neither is an anchor and the failure goes unpaired.
func TestAnchorFormTie(t *testing.T) {
	e, s := formEnv(t, "arith,form", "sibling")
	p := e.task.(*task.JSONL).TrainProblems()[0]
	extra := "10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;10*6=60;60+5=65;65%11=10;#10"
	g := group{prob: p, prompt: e.policyContext(p.Prompt)}
	for _, txt := range []string{p.Solution, extra, "10*6=60;#60"} {
		g.samples = append(g.samples, rollout.Sample{Tokens: e.tok.Encode(txt), Finished: true})
		g.texts = append(g.texts, txt)
		g.rewards = append(g.rewards, e.task.Reward(p, txt))
	}
	st := &rlStep{counters: map[string]float64{}, phase: map[string]float64{}}
	if err := s.build(e, rand.New(rand.NewPCG(1, 1)), []group{g}, st); err != nil {
		t.Fatal(err)
	}
	if len(st.seqs) != 0 || st.counters["sirl/anchors_rejected_form"] != 2 || st.counters["sirl/groups_without_pair"] != 1 {
		t.Errorf("tie: %d sequences, counters %v; want none, 2 anchors rejected by form, 1 group without pair", len(st.seqs), st.counters)
	}
}

// TestFormOracleCheck: a right-stepped repair rejected by the form rule
// (its anchor was a degenerate trace) is counted, a wrong-stepped one not.
func TestFormOracleCheck(t *testing.T) {
	e, _ := formEnv(t, "arith,form", "repair")
	p := e.task.(*task.JSONL).TrainProblems()[1]
	st := &rlStep{counters: map[string]float64{}, phase: map[string]float64{}}
	e.formOracleCheck(p, p.Solution, st)
	e.formOracleCheck(p, "5*10=50;50+5=55;55%11=0;0*5=0;0+5=5;5%11=5;#5", st)
	if got := st.counters["sirl/form_rejected_oracle_right"]; got != 1 {
		t.Errorf("form_rejected_oracle_right = %v, want 1", got)
	}
}

// TestRepairAuditForm runs the repair audit on hand-written candidates for
// a failure whose anchor is the correct trace: the degenerate repairs pass
// the arith step checker and fail the form rule; a real repair passes.
func TestRepairAuditForm(t *testing.T) {
	for _, c := range []struct {
		name, failed, repair string
		form, arith          string // the rule that fails with and without form ("" = accepted)
	}{
		{"legitimate repair", "5*10=50;50+5=55;55%11=2;2*10=20;20+5=25;25%11=3;#3",
			"5*10=50;50+5=55;55%11=0;0*10=0;0+5=5;5%11=5;#5", "", ""},
		{"wrong multiplier on 0", "5*10=50;50+5=55;55%11=2;2*10=20;20+5=25;25%11=3;#3",
			"5*10=50;50+5=55;55%11=0;0*5=0;0+5=5;5%11=5;#5", supervise.RuleForm, ""},
		{"arithmetic that does not hold", "5*10=50;50+5=55;55%11=2;2*10=20;20+5=25;25%11=3;#3",
			"5*10=50;50+5=55;55%11=2;2*10=20;20+5=25;25%11=5;#5", supervise.RuleStepCheck, supervise.RuleStepCheck},
	} {
		for _, check := range []string{"arith,form", "arith"} {
			e, s := formEnv(t, check, "repair")
			p := e.task.(*task.JSONL).TrainProblems()[1]
			g := &group{prob: p, texts: []string{p.Solution, c.failed}}
			f := &failure{g: g, i: 1, y: e.tok.Encode(c.failed), text: c.failed, anchor: 0}
			yb := e.tok.Encode(c.repair)
			ok, rule := s.audit(e, f, yb, c.repair, supervise.Diff(f.y, yb), true)
			want := c.form
			if check == "arith" {
				want = c.arith
			}
			if ok != (want == "") || rule != want {
				t.Errorf("%s, step_check %q: audit = %v %q, want rule %q", c.name, check, ok, rule, want)
			}
		}
	}
}
