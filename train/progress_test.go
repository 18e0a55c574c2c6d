package train

import (
	"path/filepath"
	"testing"
)

// TestResumeKeepsBudget: the RL stage's typed progress (sampled tokens
// against rl.token_budget, evaluation points done) survives a resume: the
// resumed run stops at the same step, evaluates at the same steps and ends
// with the same weights as the uninterrupted one.
func TestResumeKeepsBudget(t *testing.T) {
	base, ckpt := stage0(t)
	c := base
	c.Stages = []string{"rl"}
	c.RL.Steps, c.RL.NumGenerations, c.RL.PromptsPerStep = 100, 4, 4
	c.RL.TokenBudget, c.RL.EvalPoints = 600, 3
	ref := t.TempDir()
	sum := runTiny(t, c, ref, Options{Checkpoint: ckpt})
	steps, _ := sum.Float("rl.steps")
	if steps < 4 || steps >= 100 {
		t.Fatalf("the budget ended the reference run after %v steps; want it to stop early, after at least 4", steps)
	}
	dir := t.TempDir()
	interruptAt(t, c, dir, ckpt, 2)
	got := runTiny(t, c, dir, Options{Resume: true})
	if s, _ := got.Float("rl.steps"); s != steps {
		t.Errorf("resumed run stopped after %v steps, the uninterrupted one after %v", s, steps)
	}
	sameWeights(t, weightsOf(t, filepath.Join(ref, "final.safetensors")), weightsOf(t, filepath.Join(dir, "final.safetensors")))
	evalSteps := func(dir string) []float64 {
		rows, err := readRows(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, r := range rows {
			if _, ok := r[MetricGreedyAccuracy]; ok && r[MetricStage] == "rl" {
				out = append(out, r[MetricStep].(float64))
			}
		}
		return out
	}
	a, b := evalSteps(ref), evalSteps(dir)
	if len(a) == 0 || len(a) > c.RL.EvalPoints || len(a) != len(b) {
		t.Fatalf("evaluation steps %v (reference) and %v (resumed); want the same 1 to %d", a, b, c.RL.EvalPoints)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("evaluation steps %v (reference) and %v (resumed)", a, b)
			break
		}
	}
}
