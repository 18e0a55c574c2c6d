package cli

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/train"
)

// planTinyConfig is a seconds-long SFT + GRPO run with a KL term (so the
// reference policy is allocated too) on the tiny preset.
func planTinyConfig() train.Config {
	c := train.Defaults()
	c.Name, c.Device, c.Threads = "plan", "cpu", 2
	c.Model.Preset = "tiny"
	c.Task.HeldOut, c.Task.Hard = 16, 8
	c.Task.MaxResponseLen = 40
	c.SFT.Steps, c.SFT.BatchSize, c.SFT.EvalEvery = 4, 8, 0
	c.RL.Steps, c.RL.PromptsPerStep, c.RL.NumGenerations, c.RL.Beta = 2, 4, 4, 0.04
	return c
}

// runStats runs cfg on a fresh CPU engine and returns its pools' stats.
func runStats(t *testing.T, cfg train.Config, opt train.Options) map[backend.Pool]backend.PoolStats {
	t.Helper()
	be := cpu.New(cfg.Threads)
	opt.Out = t.TempDir()
	if _, err := train.Run(context.Background(), be, cfg, opt); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := map[backend.Pool]backend.PoolStats{}
	for _, s := range be.PoolStats() {
		out[s.Pool] = s
	}
	return out
}

// coverRun wants every pool of plan to hold the run's high-water mark and
// reports the headroom; the pools that depend on the model alone (weights,
// optim, kv) must be within 1% + the 256-byte rounding per tensor + the
// plan's 4 MiB slack of what was used.
func coverRun(t *testing.T, plan backend.PoolPlan, stats map[backend.Pool]backend.PoolStats, c model.Config) {
	t.Helper()
	tensors := int64(len(c.ParamSizes()))
	for _, p := range backend.Pools {
		hw := stats[p].HighWater
		got := plan[p]
		t.Logf("%-11s plan %9.2f MiB  high-water %9.3f MiB", p, float64(got)/(1<<20), float64(hw)/(1<<20))
		if got < hw {
			t.Errorf("pool %s: plan %d B < high-water %d B", p, got, hw)
		}
		var round int64
		switch p {
		case backend.Weights:
			round = 2 * tensors * 256
		case backend.Optim:
			round = 3 * tensors * 256
		case backend.KV:
			round = 2 * int64(c.Layers) * 256
		default:
			continue
		}
		if limit := hw + hw/100 + round + 4<<20; got > limit {
			t.Errorf("pool %s: plan %d B, more than %d B (used %d B)", p, got, limit, hw)
		}
	}
}

// TestPlanCoversRun runs SFT and GRPO (with the reference policy) on the
// CPU engine and checks that the plan the CLI would hand the GPU engine
// covers every pool's high-water mark.
func TestPlanCoversRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SFT and RL")
	}
	cfg := planTinyConfig()
	cfg.Stages = []string{"sft", "rl"}
	stats := runStats(t, cfg, train.Options{})
	src := modelSource(cfg, "", "")
	mc, err := src.Config()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planMemory(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	coverRun(t, plan, stats, mc)
	act := float64(plan[backend.Activations]) / float64(stats[backend.Activations].HighWater)
	t.Logf("activations headroom ×%.1f (the plan holds %d-sequence decode steps and %d-token prefills; the run uses far fewer)",
		act, memplan.DecodeBatch, memplan.KVCacheTokens)
}

// TestPlanFromCheckpoint starts an RL run from a checkpoint whose model
// differs from the configured preset: the plan must follow the checkpoint.
func TestPlanFromCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SFT and RL")
	}
	sft := planTinyConfig()
	sft.Stages = []string{"sft"}
	sft.Model.Dim, sft.Model.FFN = 48, 96
	dir := t.TempDir()
	if _, err := train.Run(context.Background(), cpu.New(2), sft, train.Options{Out: dir}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "final.safetensors")

	rl := planTinyConfig()
	rl.Stages = []string{"rl"}
	rl.Model.Preset = "small" // what the old planner sized; the checkpoint decides
	stats := runStats(t, rl, train.Options{Checkpoint: ckpt})
	src := modelSource(rl, ckpt, "")
	mc, err := src.Config()
	if err != nil {
		t.Fatal(err)
	}
	if mc.Dim != 48 || mc.FFN != 96 {
		t.Fatalf("source config %+v, want the checkpoint's dim 48, ffn 96", mc)
	}
	plan, err := planMemory(rl, src)
	if err != nil {
		t.Fatal(err)
	}
	coverRun(t, plan, stats, mc)
	small, err := planMemory(rl, modelSource(rl, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if small[backend.Weights] <= plan[backend.Weights] {
		t.Errorf("the small preset's weights pool %d B is not above the checkpoint's %d B", small[backend.Weights], plan[backend.Weights])
	}
}
