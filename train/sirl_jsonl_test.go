package train

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/rollout"
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
