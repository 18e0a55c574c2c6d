package cli

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/configs"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/task"
	"github.com/sirl-dev/sirl/tokenizer"
	"github.com/sirl-dev/sirl/train"
)

// TestShippedConfigsModels: every configs/*.yaml (loaded as the command
// loads it; cli_test.go checks the loading itself) is embedded in the binary
// and resolves to a valid model shape.
func TestShippedConfigsModels(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs/*.yaml (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := loadConfig(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := configs.FS.ReadFile(filepath.Base(f)); err != nil {
				t.Errorf("%s is not embedded: %v", f, err)
			}
			if _, err := resolvedModel(cfg); err != nil {
				t.Error(err)
			}
		})
	}
}

// resolvedModel is the model a config builds (preset plus overrides, as
// train does).
func resolvedModel(cfg train.Config) (model.Config, error) {
	mc, err := model.Preset(cfg.Model.Preset, tokenizer.NewChar().VocabSize())
	if err != nil {
		return mc, err
	}
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&mc.Dim, cfg.Model.Dim)
	set(&mc.Layers, cfg.Model.Layers)
	set(&mc.Heads, cfg.Model.Heads)
	set(&mc.KVHeads, cfg.Model.KVHeads)
	set(&mc.FFN, cfg.Model.FFN)
	set(&mc.MaxSeq, cfg.Model.MaxSeq)
	mc.TiedEmbeddings = cfg.Model.TiedEmbeddings
	return mc, mc.Validate()
}

// TestCompareGPUConfig checks configs/compare-gpu.yaml against what the
// GPU comparison promises: a 20–50M model, ≥ 3 seeds, the six methods, the
// longer t1/t2/t4 tasks, an equal token budget, and room in max_seq and
// max_response_len for the longest traces and repair contexts.
func TestCompareGPUConfig(t *testing.T) {
	cfg, err := loadConfig(nil, "../configs/compare-gpu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := resolvedModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := mc.NumParams(); n < 20e6 || n > 50e6 {
		t.Errorf("model has %d parameters, want 20–50M", n)
	}
	seeds := map[int]bool{}
	for _, s := range cfg.Compare.Seeds {
		seeds[s] = true
	}
	if len(seeds) < 3 {
		t.Errorf("%d distinct seeds, want ≥ 3", len(seeds))
	}
	want := "dapo,grpo,sirl-mc,sirl-repair,sirl-sibling,vineppo"
	if got := strings.Join(slices.Sorted(slices.Values(cfg.Compare.Methods)), ","); got != want {
		t.Errorf("methods %s, want %s", got, want)
	}
	if got := strings.Join(slices.Sorted(slices.Values(cfg.Compare.Tasks)), ","); got != "t1,t2,t4" {
		t.Errorf("tasks %s, want t1,t2,t4", got)
	}
	if cfg.RL.TokenBudget <= 0 || cfg.RL.EvalPoints < 2 || cfg.Device != "cuda" {
		t.Errorf("token budget %d, eval points %d, device %q", cfg.RL.TokenBudget, cfg.RL.EvalPoints, cfg.Device)
	}
	if cfg.SFT.RepairPairs <= 0 {
		t.Error("no repair cold start (sft.repair_pairs) for sirl-repair")
	}
	if cfg.Task.TrainMax <= 4 {
		t.Errorf("training difficulty up to %d: not longer than the quickstart's 4", cfg.Task.TrainMax)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	L := cfg.Task.MaxResponseLen
	for _, name := range cfg.Compare.Tasks {
		tk, err := task.New(name, task.Options{Mod: cfg.Task.Mod})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i++ {
			p := tk.Generate(rng, cfg.Task.HardMax)
			if n := len(p.Solution) + 1; n > L { // + EOS
				t.Fatalf("%s difficulty %d: solution of %d tokens exceeds max_response_len %d", name, cfg.Task.HardMax, n, L)
			}
			// Repair context <bos><rep> prompt <fail> failure <ref> anchor <fix>
			// and the repaired response, each at most L tokens.
			if n := len(p.Prompt) + 2*L + 5 + L; n > mc.MaxSeq {
				t.Fatalf("%s: a repair context of %d tokens exceeds max_seq %d", name, n, mc.MaxSeq)
			}
		}
	}
}
