package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/train"
)

func TestBestLR(t *testing.T) {
	for _, tc := range []struct {
		name string
		runs []sweepRun
		want int
	}{
		{"highest final", []sweepRun{{Final: 0.5, AUC: 0.9}, {Final: 0.6, AUC: 0.1}, {Final: 0.55}}, 1},
		{"tie broken by AUC", []sweepRun{{Final: 0.6, AUC: 0.3}, {Final: 0.6, AUC: 0.4}, {Final: 0.2}}, 1},
		{"full tie keeps the earlier rate", []sweepRun{{Final: 0.6, AUC: 0.4}, {Final: 0.6, AUC: 0.4}}, 0},
	} {
		if got := bestLR(tc.runs); got != tc.want {
			t.Errorf("%s: bestLR = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCheckSweep(t *testing.T) {
	for _, tc := range []struct {
		name string
		cc   train.CompareConfig
		err  string
	}{
		{"no sweep", train.CompareConfig{Seeds: []int{1}}, ""},
		{"tune seed apart", train.CompareConfig{Seeds: []int{1, 2}, LRSweep: []float64{1e-4, 2e-4}, TuneSeed: 101}, ""},
		{"tune seed reported", train.CompareConfig{Seeds: []int{1, 2}, LRSweep: []float64{1e-4}, TuneSeed: 2}, "compare.tune_seed"},
		{"repeated rate", train.CompareConfig{Seeds: []int{1}, LRSweep: []float64{1e-4, 1e-4}, TuneSeed: 9}, "compare.lr_sweep"},
		{"given rates", train.CompareConfig{Seeds: []int{1}, Methods: []string{"grpo", "dapo"}, LRs: []float64{1e-4, 5e-5}}, ""},
		{"rates misaligned", train.CompareConfig{Seeds: []int{1}, Methods: []string{"grpo", "dapo"}, LRs: []float64{1e-4}}, "compare.lrs: 1 rates for 2 methods"},
		{"rates and sweep", train.CompareConfig{Seeds: []int{1}, Methods: []string{"grpo"}, LRs: []float64{1e-4}, LRSweep: []float64{1e-4}, TuneSeed: 9}, "compare.lrs"},
	} {
		err := checkSweep(tc.cc)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want one naming %q", tc.name, err, tc.err)
		}
	}
}

// TestSweepPicksRateOnTuneSeed: with compare.lr_sweep every method runs at
// each rate on the tuning seed, the reported seed runs at the chosen rate,
// compare.md carries the sweep table, and a second comparison reuses all.
func TestSweepPicksRateOnTuneSeed(t *testing.T) {
	c := tinyGrid(400)
	c.Compare.LRSweep, c.Compare.TuneSeed = []float64{1e-9, 3e-3}, 7
	dir := t.TempDir()
	var log strings.Builder
	opt := Options{Out: dir, Log: &log, NewEngine: func(train.Config) (backend.Backend, error) { return cpu.New(2), nil }}
	res, err := Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, lr := range []string{"1e-09", "0.003"} {
		if _, err := os.Stat(filepath.Join(dir, "t1", "grpo-lr"+lr+"-seed7", "summary.json")); err != nil {
			t.Errorf("sweep run at lr %s: %v", lr, err)
		}
	}
	var chosen float64
	for _, r := range res {
		if r.Method == "grpo" && r.Seed == 1 {
			chosen = r.LR
		}
	}
	if chosen != 1e-9 && chosen != 3e-3 {
		t.Fatalf("reported run's lr %v is not a sweep rate", chosen)
	}
	y, err := os.ReadFile(filepath.Join(dir, "t1", "grpo-seed1", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rc train.Config
	if err := yaml.Unmarshal(y, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.RL.Optim.LR != chosen {
		t.Errorf("reported run's config has rl.optim.lr %v, want the chosen %v", rc.RL.Optim.LR, chosen)
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Learning-rate sweep on the tuning seed 7") || !strings.Contains(string(md), "| grpo | ") {
		t.Errorf("compare.md lacks the sweep table:\n%s", md)
	}
	// Stage 0 of both seeds, two sweep runs and the reported run.
	if n := reusedRuns(t, c, opt, &log); n != 5 {
		t.Errorf("second comparison reused %d runs, want 5:\n%s", n, log.String())
	}
	// No reported seed: the sweep alone, all of it reused.
	log.Reset()
	c.Compare.Seeds = nil
	res, err = Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "reusing"); n != 3 || len(res) != 0 {
		t.Errorf("sweep alone: reused %d runs (want 3), %d reported results (want 0):\n%s", n, len(res), log.String())
	}
}

// TestClearedGridYAML: a run's config.yaml (grid cleared) keeps the form it
// had before compare.lr_sweep and compare.tune_seed existed, so finished runs
// of earlier comparisons are still reused.
func TestClearedGridYAML(t *testing.T) {
	y, err := yaml.Marshal(train.CompareConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const want = "methods: []\nseeds: []\ntasks: []\nsft_steps: []\nrepair_ratio: []\ntrain_max: []\n"
	if string(y) != want {
		t.Errorf("cleared grid marshals as\n%s\nwant\n%s", y, want)
	}
}

// TestSharedStage0: with compare.stage0_seed one Stage-0 checkpoint per
// task (trained with that seed) starts the sweep and every reported seed;
// no per-seed Stage 0 is trained, the report lists it once, and the
// progress count ends at its total.
func TestSharedStage0(t *testing.T) {
	c := tinyGrid(300)
	c.RL.EvalPoints, c.Compare.Seeds = 1, []int{1, 2}
	c.Compare.LRSweep, c.Compare.TuneSeed, c.Compare.Stage0Seed = []float64{1e-4}, 7, 42
	dir := t.TempDir()
	var log strings.Builder
	opt := Options{Out: dir, Log: &log, NewEngine: func(train.Config) (backend.Backend, error) { return cpu.New(2), nil }}
	res, err := Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	var stage0s []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "stage0-") && !strings.Contains(e.Name(), "-heldout-") {
			stage0s = append(stage0s, e.Name())
		}
	}
	if len(stage0s) != 1 || stage0s[0] != "stage0-seed42" {
		t.Errorf("Stage-0 folders %v, want [stage0-seed42]", stage0s)
	}
	n0 := 0
	for _, r := range res {
		if r.Method == stage0Method {
			n0++
		}
	}
	if n0 != 1 {
		t.Errorf("%d Stage-0 results reported, want 1", n0)
	}
	// 1 Stage 0 + its evaluation on the held-out splits of seeds 7, 1 and
	// 2 + 1 sweep run + 2 reported runs.
	if !strings.Contains(log.String(), "[7/7] t1 seed 2: grpo") {
		t.Errorf("progress does not end at [7/7]:\n%s", log.String())
	}
	checkStarts(t, dir, res)
	// Another Stage 0, then back: the method runs' configs are the same,
	// but they started from the other checkpoint, so none is reused.
	c.Compare.Stage0Seed = 43
	reusedRuns(t, c, opt, &log)
	c.Compare.Stage0Seed = 42
	if n := reusedRuns(t, c, opt, &log); n != 4 {
		t.Errorf("back on Stage 0 seed 42: reused %d runs, want 4 (its Stage 0 and its 3 evaluations):\n%s", n, log.String())
	}
	if n := reusedRuns(t, c, opt, &log); n != 7 {
		t.Errorf("unchanged comparison: reused %d runs, want 7:\n%s", n, log.String())
	}
	c.Compare.Stage0Seed = -1
	if _, err := Run(context.Background(), c, opt); err == nil || !strings.Contains(err.Error(), "compare.stage0_seed") {
		t.Errorf("negative compare.stage0_seed: error %v, want one naming the key", err)
	}
}

// checkStarts checks that every method run's 0-token point is the shared
// Stage 0 evaluated on that run's own seed (whose held-out split differs),
// by the eval-only run beside the Stage 0.
func checkStarts(t *testing.T, dir string, res []RunResult) {
	t.Helper()
	for _, r := range res {
		if r.Method == stage0Method {
			continue
		}
		ev := filepath.Join(dir, "t1", fmt.Sprintf("stage0-seed42-heldout-seed%d", r.Seed))
		y, err := os.ReadFile(filepath.Join(ev, "config.yaml"))
		if err != nil {
			t.Fatalf("seed %d: no evaluation of Stage 0 on its split: %v", r.Seed, err)
		}
		if want := fmt.Sprintf("\nseed: %d\n", r.Seed); !strings.Contains("\n"+string(y), want) {
			t.Errorf("%s evaluates another seed's split:\n%s", ev, y)
		}
		b, err := os.ReadFile(filepath.Join(ev, "summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		var sum train.Summary
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		if acc, ok := sum.Float(train.KeyEvalGreedy); !ok || r.Curve[0].Accuracy != acc {
			t.Errorf("seed %d %s: 0-token accuracy %v, want Stage 0 on its split %v (%v)", r.Seed, r.Method, r.Curve[0].Accuracy, acc, ok)
		}
	}
}

// reusedRuns runs the comparison c again into opt.Out (its log in log,
// reset first) and counts the finished runs it reused.
func reusedRuns(t *testing.T, c train.Config, opt Options, log *strings.Builder) int {
	t.Helper()
	log.Reset()
	if _, err := Run(context.Background(), c, opt); err != nil {
		t.Fatal(err)
	}
	return strings.Count(log.String(), "reusing")
}

// TestGivenRates: with compare.lrs each method runs at its given rate, no
// sweep runs, and compare.md says where the rates came from.
func TestGivenRates(t *testing.T) {
	c := tinyGrid(300)
	c.RL.EvalPoints = 1
	c.Compare.Methods, c.Compare.LRs = []string{"grpo", "dapo"}, []float64{1e-9, 3e-3}
	dir := t.TempDir()
	opt := Options{Out: dir, Log: io.Discard, NewEngine: func(train.Config) (backend.Backend, error) { return cpu.New(2), nil }}
	res, err := Run(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"grpo": 1e-9, "dapo": 3e-3}
	for _, r := range res {
		if w, ok := want[r.Method]; ok && r.LR != w {
			t.Errorf("%s ran at lr %g, want the given %g", r.Method, r.LR, w)
		}
	}
	y, err := os.ReadFile(filepath.Join(dir, "t1", "dapo-seed1", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rc train.Config
	if err := yaml.Unmarshal(y, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.RL.Optim.LR != 3e-3 {
		t.Errorf("dapo's config has rl.optim.lr %g, want 0.003", rc.RL.Optim.LR)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "t1", "*-lr*")); len(m) > 0 {
		t.Errorf("given rates ran sweep runs: %v", m)
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	if w := "RL learning rates (given by compare.lrs): grpo 1e-09, dapo 0.003."; !strings.Contains(string(md), w) {
		t.Errorf("compare.md lacks %q:\n%s", w, md)
	}
}
