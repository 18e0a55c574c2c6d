package train

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/task"
)

// syntheticGroup is a T1 prompt with two correct samples and two failures
// whose first wrong step is known.
func syntheticGroup(t *testing.T, e *env) group {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	p := e.task.Generate(rng, 3)
	g := group{prob: p, prompt: e.policyContext(p.Prompt)}
	texts := []string{p.Solution, p.Solution}
	for _, k := range []int{0, 1} {
		bad, ok := e.task.InjectError(rng, p, k)
		if !ok {
			t.Fatal("inject failed")
		}
		texts = append(texts, bad)
	}
	for _, txt := range texts {
		g.samples = append(g.samples, rollout.Sample{Tokens: e.tok.Encode(txt), Finished: true})
		g.texts = append(g.texts, txt)
		g.rewards = append(g.rewards, e.task.Reward(p, txt))
	}
	return g
}

// TestSIRLBatchInvariants: with include_correct false, correct samples get
// no gradient; failed sides carry only A ≤ 0, corrections only A ≥ 0; the
// sibling variant localises the injected step (oracle agreement).
func TestSIRLBatchInvariants(t *testing.T) {
	c := tinyConfig()
	c.Task.Mod = 13
	c.RL.Algo = "sirl"
	c.SIRL.Identify = "sibling"
	e := tinyEnv(t, c)
	s, err := e.newSIRL()
	if err != nil {
		t.Fatal(err)
	}
	g := syntheticGroup(t, e)
	if g.rewards[0] != 1 || g.rewards[2] != 0 {
		t.Fatalf("synthetic rewards %v", g.rewards)
	}
	st := &rlStep{counters: map[string]float64{}, phase: map[string]float64{}}
	if err := s.build(e, rand.New(rand.NewPCG(1, 1)), []group{g}, st); err != nil {
		t.Fatal(err)
	}
	if len(st.seqs) != 4 { // two (failure, correction) pairs
		t.Fatalf("%d sequences, want 4", len(st.seqs))
	}
	neg, pos := 0, 0
	for _, q := range st.seqs {
		signs := 0.0
		for j := range q.Adv {
			if q.Weight[j] == 0 && q.Adv[j] != 0 {
				t.Errorf("ungated token with advantage %v", q.Adv[j])
			}
			signs += float64(q.Adv[j])
		}
		switch {
		case signs < 0:
			neg++
			for _, a := range q.Adv {
				if a > 0 {
					t.Error("failed side has a positive advantage")
				}
			}
		case signs > 0:
			pos++
		}
	}
	if neg != 2 || pos != 2 {
		t.Errorf("%d negative and %d positive sequences, want 2 and 2", neg, pos)
	}
	if st.counters["sirl/localised"] != 2 || st.counters["sirl/localised_correct"] != 2 {
		t.Errorf("localisation %v/%v, want 2/2 on injected single-step errors", st.counters["sirl/localised_correct"], st.counters["sirl/localised"])
	}
}

// TestAnchorProvenanceAudit: a correct answer reached through a miscopied
// operand (a lucky chain) is not used as the anchor when the audit's rule 4
// is on; with the rule off it is, being the closest correct sibling.
func TestAnchorProvenanceAudit(t *testing.T) {
	for _, audit := range []bool{true, false} {
		c := tinyConfig()
		c.Task.Mod = 13
		c.RL.Algo, c.SIRL.Identify, c.SIRL.AuditFromPrompt = "sirl", "sibling", audit
		e := tinyEnv(t, c)
		s, err := e.newSIRL()
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 6))
		p := e.task.Generate(rng, 3)
		fp := e.task.(task.FromPrompter)
		var bad string
		for bad == "" || fp.FromPrompt(p, bad) {
			bad, _ = e.task.InjectError(rng, p, 1)
		}
		steps, _, _ := task.ParseTrace(bad)
		lucky := strings.Join(steps, ";") + ";#" + p.Answer
		g := group{prob: p, prompt: e.policyContext(p.Prompt)}
		for _, txt := range []string{p.Solution, lucky, bad} {
			g.samples = append(g.samples, rollout.Sample{Tokens: e.tok.Encode(txt), Finished: true})
			g.texts = append(g.texts, txt)
			g.rewards = append(g.rewards, e.task.Reward(p, txt))
		}
		if g.rewards[1] != 1 || g.rewards[2] != 0 {
			t.Fatalf("rewards %v for %q", g.rewards, g.texts)
		}
		st := &rlStep{counters: map[string]float64{}, phase: map[string]float64{}}
		if err := s.build(e, rand.New(rand.NewPCG(1, 1)), []group{g}, st); err != nil {
			t.Fatal(err)
		}
		want := lucky
		if audit {
			want = p.Solution
		}
		if len(st.seqs) != 2 {
			t.Fatalf("audit %v: %d sequences, want one pair", audit, len(st.seqs))
		}
		if got := e.tok.Decode(st.seqs[1].Response); !strings.HasPrefix(got, want) {
			t.Errorf("audit %v: correction %q, want %q", audit, got, want)
		}
		if got, wantWrong := st.counters["sirl/corrections_wrong_steps"], map[bool]float64{true: 0, false: 1}[audit]; got != wantWrong {
			t.Errorf("audit %v: corrections_wrong_steps %v, want %v", audit, got, wantWrong)
		}
	}
}
