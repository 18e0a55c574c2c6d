package compare

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/train"
)

func TestCurveInterpolationAndAUC(t *testing.T) {
	c := []CurvePoint{{Tokens: 0, Accuracy: 0.2}, {Tokens: 50, Accuracy: 0.4}, {Tokens: 100, Accuracy: 0.4}}
	for _, tc := range []struct{ tok, want float64 }{{0, 0.2}, {25, 0.3}, {50, 0.4}, {75, 0.4}, {200, 0.4}} {
		if got := accAt(c, tc.tok); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("accAt(%v) = %v, want %v", tc.tok, got, tc.want)
		}
	}
	// Area: 0.5·(0.2+0.4)/2 + 0.5·0.4 = 0.35.
	if got := auc(c, 100); math.Abs(got-0.35) > 1e-9 {
		t.Errorf("auc = %v, want 0.35", got)
	}
	m, h := meanCI([]float64{0.1, 0.2, 0.3})
	// t(0.975, 2) = 4.3027; sd = 0.1; half-width = 4.3027·0.1/√3.
	if math.Abs(m-0.2) > 1e-12 || math.Abs(h-4.302652729749464*0.1/math.Sqrt(3)) > 1e-6 {
		t.Errorf("meanCI = %v ± %v", m, h)
	}
}

// TestWriteCompareReport: compare.md lists each seed's Stage-0 checkpoint
// and the repair success of SIRL methods next to the accuracy table.
func TestWriteCompareReport(t *testing.T) {
	cfg := train.Defaults()
	cfg.RL.TokenBudget = 100
	cfg.Compare.Tasks, cfg.Compare.Seeds, cfg.Compare.Methods = []string{"t2"}, []int{1}, []string{"grpo", "sirl-repair"}
	curve := []CurvePoint{{Tokens: 0, Accuracy: 0.5}, {Tokens: 100, Accuracy: 0.6}}
	runs := []RunResult{
		{Task: "t2", Method: stage0Method, Seed: 1, Summary: train.Summary{"sft.steps_run": 425, "sft.eval.greedy_accuracy": 0.64, "sft.eval.repair_accuracy": 0.835}},
		{Task: "t2", Method: "grpo", Seed: 1, Curve: curve, Summary: train.Summary{"device": "cpu"}},
		{Task: "t2", Method: "sirl-repair", Seed: 1, Curve: []CurvePoint{{Tokens: 0, Accuracy: 0.5}, {Tokens: 100, Accuracy: 0.7}},
			Summary: train.Summary{"rl.failures_attempted": 40.0, "rl.failures_corrected": 30.0}},
	}
	dir := t.TempDir()
	if err := writeReport(dir, cfg, runs, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{"seed 1: 425 SFT steps, policy 0.640, repair 0.835", "| 30 / 40 |", "| grpo | 0.525 ± 0.000",
		"| sirl-repair | +0.100 ± 0.000 | +0.050 ± 0.000 | +0.200 ± 0.000 | +0.025 ± 0.000 | +0.050 ± 0.000 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("compare.md lacks %q:\n%s", want, md)
		}
	}
}

// tinyGrid is a comparison small enough for a test: the tiny model on
// one-operation T1 mod 11, GRPO on seed 1, budget sampled tokens per run.
func tinyGrid(budget int64) train.Config {
	c := train.Defaults()
	c.Name, c.Model.Preset = "tiny", "tiny"
	c.Task.HeldOut, c.Task.Hard, c.Task.MaxResponseLen = 16, 8, 40
	c.Task.TrainMin, c.Task.TrainMax, c.Task.Mod = 1, 1, 11
	c.SFT.Steps, c.SFT.BatchSize, c.SFT.EvalEvery = 6, 8, 0
	c.SFT.RepairPairs = 20
	c.RL.PromptsPerStep, c.RL.NumGenerations = 4, 4
	c.RL.Optim.LR = 1e-3
	c.RL.TokenBudget, c.RL.EvalPoints = budget, 2
	c.Compare.Tasks, c.Compare.Seeds, c.Compare.Methods = []string{"t1"}, []int{1}, []string{"grpo"}
	return c
}

// TestCompareReusesFinishedRuns: a second `train compare` into the same
// folder reuses every finished run whose config is unchanged, and a method
// added to the grid is the only run that executes.
func TestCompareReusesFinishedRuns(t *testing.T) {
	c := tinyGrid(600)
	c.RL.Steps = 3
	dir := t.TempDir()
	var log strings.Builder
	opt := Options{Out: dir, Log: &log, NewEngine: func(train.Config) (backend.Backend, error) { return cpu.New(2), nil }}
	first, err := Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "reusing") {
		t.Fatalf("first comparison reused a run:\n%s", log.String())
	}
	log.Reset()
	c.Compare.Methods = []string{"grpo", "sirl-repair-frozen"}
	second, err := Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "reusing"); n != 2 {
		t.Fatalf("second comparison reused %d runs, want 2 (Stage 0 and grpo):\n%s", n, log.String())
	}
	if len(second) != len(first)+1 {
		t.Fatalf("%d results, want %d", len(second), len(first)+1)
	}
	for i, r := range first {
		if fmt.Sprint(r.Curve) != fmt.Sprint(second[i].Curve) {
			t.Errorf("%s: reused curve %v differs from %v", r.Method, second[i].Curve, r.Curve)
		}
	}
	// A changed RL key reuses Stage 0 and reruns the methods.
	log.Reset()
	c.RL.TokenBudget = 700
	if _, err := Run(context.Background(), c, opt); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "reusing"); n != 1 || !strings.Contains(log.String(), "stage0-seed1") {
		t.Fatalf("a changed RL budget reused %d runs, want only Stage 0:\n%s", n, log.String())
	}
	// A changed Stage-0 key reruns Stage 0 and therefore every method.
	log.Reset()
	c.SFT.Steps++
	if _, err := Run(context.Background(), c, opt); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "reusing") {
		t.Fatalf("a changed Stage 0 still reused runs:\n%s", log.String())
	}
}

// TestCompareResumesInterruptedRun: a method run interrupted (context
// cancelled as it starts: the rolling checkpoint is written) is resumed by
// the next comparison, not rerun, and ends with the curve of an
// uninterrupted run.
func TestCompareResumesInterruptedRun(t *testing.T) {
	c := tinyGrid(500)
	engine := func(train.Config) (backend.Backend, error) { return cpu.New(2), nil }

	want, err := Run(context.Background(), c, Options{Out: t.TempDir(), Log: io.Discard, NewEngine: engine})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	interrupt := func(cfg train.Config) (backend.Backend, error) {
		if calls++; calls == 2 { // the grpo run, after Stage 0
			cancel()
		}
		return engine(cfg)
	}
	if _, err := Run(ctx, c, Options{Out: dir, Log: io.Discard, NewEngine: interrupt}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("cancelled comparison: error %v, want an interruption", err)
	}
	var log strings.Builder
	got, err := Run(context.Background(), c, Options{Out: dir, Log: &log, NewEngine: engine})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resuming the interrupted run in "+filepath.Join(dir, "t1", "grpo-seed1")) {
		t.Errorf("the interrupted grpo run was not resumed:\n%s", log.String())
	}
	if fmt.Sprint(got[1].Curve) != fmt.Sprint(want[1].Curve) {
		t.Errorf("resumed curve %v, uninterrupted %v", got[1].Curve, want[1].Curve)
	}
}

// TestPerTaskBudget: compare.token_budget gives each task its own sampled-
// token budget; every run of a task stops at its task's budget, and
// compare.md states both.
func TestPerTaskBudget(t *testing.T) {
	c := tinyGrid(0)
	c.RL.TokenBudget = 5000 // unused: both tasks have their own
	c.Compare.Tasks = []string{"t1", "t2"}
	c.Compare.TokenBudget = []int64{600, 300}
	dir := t.TempDir()
	opt := Options{Out: dir, Log: io.Discard, NewEngine: func(train.Config) (backend.Backend, error) { return cpu.New(2), nil }}
	runs, err := Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"t1": 600, "t2": 300}
	n := 0
	for _, r := range runs {
		if r.Method != "grpo" {
			continue
		}
		n++
		dec, _ := r.Summary.Float(train.KeyRLDecoded)
		// A run stops after the step that reaches its budget.
		if b := want[r.Task]; dec < b || dec > b+1000 {
			t.Errorf("%s: %v sampled tokens, want its budget %v (plus at most one step)", r.Task, dec, b)
		}
	}
	if n != 2 {
		t.Fatalf("%d grpo runs, want 2", n)
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "(t1 600, t2 300)") {
		t.Errorf("compare.md does not state the per-task budgets:\n%s", md)
	}
}
