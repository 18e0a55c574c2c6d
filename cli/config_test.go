package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/gpu"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigErrors: unknown keys, out-of-range values and bad YAML each
// give one error naming the file and the key.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown top key", "nmae: x\n", []string{"c.yaml", `unknown key "nmae"`}},
		{"unknown nested key", "rl:\n  lr: 0.1\n", []string{"c.yaml", `unknown key "rl.lr"`}},
		{"out of range", "rl:\n  epsilon: 3\n", []string{"c.yaml", "rl.epsilon", "out of range"}},
		{"bad enum", "rl:\n  algo: ppo2\n", []string{"rl.algo", `"ppo2"`}},
		{"negative steps", "sft:\n  steps: -1\n", []string{"sft.steps"}},
		{"bad yaml", "rl: [1, 2\n", []string{"c.yaml", "YAML"}},
		{"wrong type", "sft:\n  steps: many\n", []string{"c.yaml"}},
		{"target without evals", "sft:\n  eval_every: 0\n  target_accuracy: 0.5\n", []string{"c.yaml", "sft.target_accuracy", "eval_every"}},
		{"repair target without cold start", "sft:\n  target_repair_accuracy: 0.8\n", []string{"sft.target_repair_accuracy", "repair_pairs"}},
		{"per-task list length", "compare:\n  tasks: [t1, t2]\n  train_max: [4]\n", []string{"compare.train_max", "1 entries for 2 tasks"}},
		{"bad step check", "task:\n  name: jsonl\n  step_check: arith,shape\n", []string{"c.yaml", "config key task.step_check", `"shape"`}},
		{"repeated step check", "task:\n  name: jsonl\n  step_check: form,form\n", []string{"c.yaml", "config key task.step_check", "twice"}},
		{"step check on t4", "task:\n  name: t4\n  step_check: arith\n", []string{"c.yaml", "config key task.step_check", `"t4"`}},
		{"form on t1", "task:\n  name: t1\n  step_check: arith,form\n", []string{"c.yaml", "config key task.step_check", `"t1"`}},
		{"per-task ratio range", "compare:\n  tasks: [t1]\n  repair_ratio: [1.5]\n", []string{"compare.repair_ratio", "out of range"}},
		{"per-task budget length", "compare:\n  tasks: [t1, t2]\n  token_budget: [1000]\n", []string{"compare.token_budget", "1 entries for 2 tasks"}},
		{"per-task budget sign", "compare:\n  tasks: [t1]\n  token_budget: [0]\n", []string{"compare.token_budget", "not a positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(nil, writeConfig(t, tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestConfigPrecedence: defaults < file < SIRL_<KEY> env < --flag.
func TestConfigPrecedence(t *testing.T) {
	p := writeConfig(t, "rl:\n  steps: 7\n  num_generations: 4\nsft:\n  steps: 9\n")
	t.Setenv("SIRL_RL_STEPS", "11")
	cmd := NewRootCmd()
	run, _, err := cmd.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Flags().Parse([]string{"--rl.num_generations", "6"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(run.Flags(), p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SFT.Steps != 9 || cfg.RL.Steps != 11 || cfg.RL.NumGenerations != 6 || cfg.RL.PromptsPerStep != 16 {
		t.Errorf("got sft.steps %d rl.steps %d num_generations %d prompts %d; want 9 (file) 11 (env) 6 (flag) 16 (default)",
			cfg.SFT.Steps, cfg.RL.Steps, cfg.RL.NumGenerations, cfg.RL.PromptsPerStep)
	}
	// The GPU engine's own variables are not config keys but are accepted.
	for _, v := range gpu.EnvVars() {
		t.Setenv(v, "x")
	}
	if _, err := loadConfig(nil, p); err != nil {
		t.Errorf("with the GPU engine's variables set: %v", err)
	}
	// A flag value that does not decode is named as the flag, in one line.
	bad, _, _ := NewRootCmd().Find([]string{"compare"})
	if err := bad.Flags().Parse([]string{"--compare.lrs", "rate,rate"}); err != nil {
		t.Fatal(err)
	}
	_, err = loadConfig(bad.Flags(), p)
	if err == nil || !strings.HasPrefix(err.Error(), `flag --compare.lrs "[rate,rate]"`) || !strings.Contains(err.Error(), "(and 1 more)") || strings.Contains(err.Error(), "\n") {
		t.Errorf("bad flag value: error %q, want one line naming --compare.lrs and its value", err)
	}
	t.Setenv("SIRL_RL_STPES", "1")
	if _, err := loadConfig(nil, p); err == nil || !strings.Contains(err.Error(), "SIRL_RL_STPES") {
		t.Errorf("misspelt env var: error %v, want one naming it", err)
	}
}

// TestFloatFlags: a float key whose default is whole (rl.temperature 1.0,
// sirl.alpha 1.0) takes a fractional value on the command line.
func TestFloatFlags(t *testing.T) {
	cmd := NewRootCmd()
	run, _, err := cmd.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--rl.temperature", "0.7", "--eval.temperature", "0.5", "--sirl.alpha", "0.25", "--rl.optim.grad_clip", "0.5"}
	if err := run.Flags().Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	cfg, err := loadConfig(run.Flags(), writeConfig(t, "name: f\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RL.Temperature != 0.7 || cfg.Eval.Temperature != 0.5 || cfg.SIRL.Alpha != 0.25 || cfg.RL.Optim.GradClip != 0.5 {
		t.Errorf("got rl.temperature %v eval.temperature %v sirl.alpha %v rl.optim.grad_clip %v; want 0.7 0.5 0.25 0.5",
			cfg.RL.Temperature, cfg.Eval.Temperature, cfg.SIRL.Alpha, cfg.RL.Optim.GradClip)
	}
}

// TestEmbeddedConfigsLoad: every shipped config resolves and validates.
func TestEmbeddedConfigsLoad(t *testing.T) {
	entries, err := os.ReadDir("../configs")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		n++
		if _, err := loadConfig(nil, filepath.Join("../configs", e.Name())); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	if n == 0 {
		t.Fatal("no configs found")
	}
	if _, err := loadConfig(nil, ""); err != nil {
		t.Errorf("embedded quickstart: %v", err)
	}
}

// TestCLIBadCheckpoint: a truncated checkpoint is one clear error naming
// the file, and the run folder's existing files are left alone.
func TestCLIBadCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(ck, []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(out, "summary.json")
	if err := os.WriteFile(keep, []byte(`{"kept": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := NewRootCmd()
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	cmd.SetOut(&stderr)
	cmd.SetArgs([]string{"eval", "--checkpoint", ck, "--out", out, "--device", "cpu"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Fatalf("error %v, want one naming the checkpoint", err)
	}
	if b, _ := os.ReadFile(keep); string(b) != `{"kept": true}` {
		t.Errorf("summary.json was changed: %s", b)
	}
}

// TestGSPOEpsilonFollowsUser: a user's rl.epsilon (0.2 included) reaches
// GSPO's sequence clip range unless rl.gspo_epsilon is set too; defaults
// and a run folder's resolved config.yaml leave it unset (GSPO's 3e-4).
func TestGSPOEpsilonFollowsUser(t *testing.T) {
	for _, tc := range []struct {
		name, body     string
		resolved       bool
		wantLo, wantHi float64
	}{
		{"defaults", "rl:\n  algo: gspo\n", false, 0, 0},
		{"user 0.2", "rl:\n  algo: gspo\n  epsilon: 0.2\n", false, 0.2, 0},
		{"user both", "rl:\n  algo: gspo\n  epsilon: 0.2\n  epsilon_high: 0.28\n", false, 0.2, 0.28},
		{"gspo key wins", "rl:\n  algo: gspo\n  epsilon: 0.2\n  gspo_epsilon: 0.001\n", false, 0.001, 0},
		{"run folder config.yaml", "rl:\n  algo: gspo\n  epsilon: 0.2\n  epsilon_high: 0.2\n", true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfigFrom(nil, writeConfig(t, tc.body), tc.resolved)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RL.GSPOEpsilon != tc.wantLo || cfg.RL.GSPOEpsilonHigh != tc.wantHi {
				t.Errorf("rl.gspo_epsilon %g, rl.gspo_epsilon_high %g; want %g, %g",
					cfg.RL.GSPOEpsilon, cfg.RL.GSPOEpsilonHigh, tc.wantLo, tc.wantHi)
			}
		})
	}
	run, _, err := NewRootCmd().Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Flags().Parse([]string{"--rl.epsilon", "0.2"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(run.Flags(), writeConfig(t, "name: g\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RL.GSPOEpsilon != 0.2 {
		t.Errorf("--rl.epsilon 0.2: rl.gspo_epsilon %g, want 0.2", cfg.RL.GSPOEpsilon)
	}
}

// TestBadGridKeepsComparison: a grid that cannot run (here compare.lrs
// misaligned with compare.methods) fails with the key named, before the
// comparison folder's config.yaml is rewritten.
func TestBadGridKeepsComparison(t *testing.T) {
	out := t.TempDir()
	keep := filepath.Join(out, "config.yaml")
	if err := os.WriteFile(keep, []byte("name: earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := NewRootCmd()
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	cmd.SetOut(&stderr)
	cmd.SetArgs([]string{"compare", "--out", out, "--device", "cpu", "--compare.methods", "grpo,dapo", "--compare.lrs", "1e-4", "--rl.token_budget", "1000"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "compare.lrs") {
		t.Fatalf("error %v, want one naming compare.lrs", err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "name: earlier\n" {
		t.Errorf("config.yaml was rewritten: %s", b)
	}
}
