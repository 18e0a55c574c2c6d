package train

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
)

// tinyConfig is a seconds-long run on the tiny preset.
func tinyConfig() Config {
	c := Defaults()
	c.Name = "tiny"
	c.Model.Preset = "tiny"
	c.Task.HeldOut, c.Task.Hard = 16, 8
	c.Task.MaxResponseLen = 40
	c.SFT.Steps, c.SFT.BatchSize, c.SFT.EvalEvery = 6, 8, 0
	c.RL.Steps, c.RL.PromptsPerStep, c.RL.NumGenerations = 3, 4, 4
	c.RL.Optim.LR = 1e-3
	return c
}

func runTiny(t *testing.T, c Config, dir string, opt Options) Summary {
	t.Helper()
	opt.Out = dir
	sum, err := Run(context.Background(), cpu.New(2), c, opt)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return sum
}

func TestTinyRunWritesRunFolder(t *testing.T) {
	dir := t.TempDir()
	sum := runTiny(t, tinyConfig(), dir, Options{ConfigYAML: []byte("name: tiny\n")})
	for _, k := range []string{"device", "wall_seconds", "eval.greedy_accuracy", "sft.eval.greedy_accuracy", "rl.eval.greedy_accuracy"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q: %v", k, sum)
		}
	}
	for _, f := range []string{"config.yaml", "metrics.jsonl", "summary.json", "final.safetensors", checkpointName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run folder lacks %s", f)
		}
	}
}

// weightsOf reads every parameter of a checkpoint.
func weightsOf(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := model.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, n := range f.Names() {
		nt, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = nt.Data
	}
	return out
}

func sameWeights(t *testing.T, a, b map[string][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("tensor count %d vs %d", len(a), len(b))
	}
	for n, x := range a {
		y := b[n]
		if len(x) != len(y) {
			t.Fatalf("%s: length %d vs %d", n, len(x), len(y))
		}
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("%s[%d]: %v vs %v (not bitwise equal)", n, i, x[i], y[i])
			}
		}
	}
}

// interruptAt runs c in dir and cancels it after the n-th step (counted
// over all stages); the run must stop with an error.
func interruptAt(t *testing.T, c Config, dir, ckpt string, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	hook := func(string, int) {
		if calls++; calls == n {
			cancel()
		}
	}
	if _, err := Run(ctx, cpu.New(2), c, Options{Out: dir, Checkpoint: ckpt, stepHook: hook}); err == nil {
		t.Fatal("interrupted run returned no error")
	}
}

// TestResumeMidSFT: a run interrupted mid-SFT and resumed ends with weights
// bitwise equal to an uninterrupted run.
func TestResumeMidSFT(t *testing.T) {
	c := tinyConfig()
	c.Stages = []string{"sft"}
	ref := t.TempDir()
	runTiny(t, c, ref, Options{})
	dir := t.TempDir()
	interruptAt(t, c, dir, "", 3)
	runTiny(t, c, dir, Options{Resume: true})
	sameWeights(t, weightsOf(t, filepath.Join(ref, "final.safetensors")), weightsOf(t, filepath.Join(dir, "final.safetensors")))
}

// stage0 trains a tiny checkpoint that gets some answers right, so that RL
// steps after it carry gradient.
func stage0(t *testing.T) (Config, string) {
	t.Helper()
	return stage0With(t, nil)
}

// stage0With is stage0 with the config changed by mutate (nil: none) before
// the run.
func stage0With(t *testing.T, mutate func(*Config)) (Config, string) {
	t.Helper()
	c := tinyConfig()
	if mutate != nil {
		mutate(&c)
	}
	c.Task.TrainMin, c.Task.TrainMax, c.Task.Mod = 1, 1, 11
	c.SFT.Steps, c.SFT.BatchSize = 120, 16
	c.SFT.Optim.LR, c.SFT.Optim.WarmupSteps = 3e-3, 2
	c.SFT.RepairPairs = 50
	c.Stages = []string{"sft"}
	dir := t.TempDir()
	runTiny(t, c, dir, Options{})
	return c, filepath.Join(dir, "final.safetensors")
}

// TestResumeMidRL: RL (GRPO and SIRL) interrupted after step 2 of 4 and
// resumed ends bitwise equal to an uninterrupted run, and the steps after
// the resume did train (so the comparison is not vacuous).
func TestResumeMidRL(t *testing.T) {
	base, ckpt := stage0(t)
	for _, tc := range []struct {
		algo string
		beta float64
	}{{"grpo", 0}, {"sirl", 0}, {"grpo", 0.05}} {
		algo := tc.algo
		t.Run(fmt.Sprintf("%s-beta%g", algo, tc.beta), func(t *testing.T) {
			c := base
			c.Stages = []string{"rl"}
			c.RL.Algo, c.RL.Steps, c.RL.NumGenerations, c.RL.PromptsPerStep = algo, 4, 8, 8
			// β > 0: π_ref must come back from the run folder on resume,
			// not be rebuilt from the resumed (already trained) weights.
			c.RL.Beta = tc.beta
			c.SIRL.Identify = "sibling"
			// The tiny model's lucky correct samples rarely copy the
			// operands right; without the provenance audit every mixed
			// group has an anchor, so the resumed steps do train.
			c.SIRL.AuditFromPrompt = false
			ref := t.TempDir()
			runTiny(t, c, ref, Options{Checkpoint: ckpt})
			dir := t.TempDir()
			interruptAt(t, c, dir, ckpt, 2)
			runTiny(t, c, dir, Options{Resume: true})
			sameWeights(t, weightsOf(t, filepath.Join(ref, "final.safetensors")), weightsOf(t, filepath.Join(dir, "final.safetensors")))
			rows, err := readRows(filepath.Join(dir, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			trained := 0.0
			for _, r := range rows {
				if r["stage"] == "rl" && r["step"].(float64) > 2 {
					v, _ := r["tokens/trained"].(float64)
					trained += v
				}
			}
			if trained == 0 {
				t.Fatal("no RL step after the resume trained any token: the test would be vacuous")
			}
			if len(rows) != 4 {
				t.Fatalf("metrics.jsonl has %d rows after resume, want 4", len(rows))
			}
		})
	}
}

func readRows(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// TestEveryAlgorithmRuns: two RL steps of every algorithm and SIRL variant
// from a Stage-0 checkpoint with the repair cold start; each writes its
// metrics and, where it trained, a finite loss.
func TestEveryAlgorithmRuns(t *testing.T) {
	base, ckpt := stage0(t)
	for _, m := range MethodNames() {
		t.Run(m, func(t *testing.T) {
			c := base
			apply, _ := methodOverrides(m)
			apply(&c)
			c.Stages = []string{"rl"}
			c.RL.Steps, c.RL.PromptsPerStep, c.RL.NumGenerations = 2, 4, 4
			c.RL.MCRollouts, c.SIRL.MCRollouts = 2, 2
			dir := t.TempDir()
			runTiny(t, c, dir, Options{Checkpoint: ckpt})
			rows, err := readRows(filepath.Join(dir, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 {
				t.Fatalf("%d metric rows, want 2", len(rows))
			}
			for _, r := range rows {
				if v, ok := r["policy_loss"].(float64); ok && (v != v) {
					t.Errorf("step %v: policy_loss is NaN", r["step"])
				}
			}
		})
	}
}
