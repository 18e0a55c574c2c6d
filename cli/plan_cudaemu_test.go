//go:build cudaemu

package cli

import (
	"context"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/train"
)

// TestPlanCoversRunEmulated runs the SFT + GRPO run of TestPlanCoversRun on
// the emulated CUDA engine with the pools the CLI plans: the run must fit
// (an allocation past a pool's capacity fails the run), and each pool's
// capacity must be the plan's and hold its high-water mark.
func TestPlanCoversRunEmulated(t *testing.T) {
	cfg := planTinyConfig()
	cfg.Stages, cfg.Device = []string{"sft", "rl"}, "cuda"
	src := modelSource(cfg, "", "")
	mc, err := src.Config()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planMemory(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	be, err := gpu.New(plan)
	if err != nil {
		t.Fatalf("emulated engine with plan %v: %v", plan, err)
	}
	if c, ok := be.(interface{ Close() error }); ok {
		defer c.Close()
	}
	if _, err := train.Run(context.Background(), be, cfg, train.Options{Out: t.TempDir()}); err != nil {
		t.Fatalf("run on the emulated engine with plan %v: %v", plan, err)
	}
	stats := map[backend.Pool]backend.PoolStats{}
	for _, s := range be.PoolStats() {
		stats[s.Pool] = s
		if want, ok := plan[s.Pool]; ok && s.Capacity != want {
			t.Errorf("pool %s: capacity %d B, plan %d B", s.Pool, s.Capacity, want)
		}
	}
	coverRun(t, plan, stats, mc)
}
