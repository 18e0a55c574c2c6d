//go:build cuda || cudaemu

package gpu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/train"
)

// TestDeterministicSampling: the same seed on two fresh engines of the same
// GPU samples the same tokens with bitwise-equal log-probabilities, through
// the paged KV cache with prefix forks (4 samples per prompt).
func TestDeterministicSampling(t *testing.T) {
	sample := func() []rollout.Sample {
		e := open(t, testPlan)
		defer e.Close()
		cfg, err := model.Preset("tiny", 48)
		if err != nil {
			t.Fatal(err)
		}
		m, err := model.New(e, cfg, 7)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := rollout.New(m, rollout.Config{BlockSize: 16, NumBlocks: 256, MaxBatch: 64, EOS: 0})
		if err != nil {
			t.Fatal(err)
		}
		prompts := [][]int32{{1, 5, 9}, {2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}, {3}}
		rng := rand.New(rand.NewPCG(11, 12))
		out, _, err := gen.Generate(prompts, 4, backend.SampleParams{Temperature: 1, TopP: 0.9}, 40, rng)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := sample(), sample()
	if len(a) != len(b) || len(a) != 12 {
		t.Fatalf("%d and %d samples, want 12", len(a), len(b))
	}
	tokens := 0
	for i := range a {
		if len(a[i].Tokens) != len(b[i].Tokens) {
			t.Fatalf("sample %d: %d vs %d tokens", i, len(a[i].Tokens), len(b[i].Tokens))
		}
		for j := range a[i].Tokens {
			if a[i].Tokens[j] != b[i].Tokens[j] || math.Float32bits(a[i].Logp[j]) != math.Float32bits(b[i].Logp[j]) {
				t.Fatalf("sample %d token %d: %d (logp %g) vs %d (logp %g)", i, j, a[i].Tokens[j], a[i].Logp[j], b[i].Tokens[j], b[i].Logp[j])
			}
		}
		tokens += len(a[i].Tokens)
	}
	if tokens < 12 {
		t.Errorf("only %d tokens sampled: the check compared almost nothing", tokens)
	}
}

// TestDeterministicTraining: train.Run (SFT, then RL steps) twice with the
// same seed on two fresh engines gives bitwise-identical final weights,
// identical logged samples and identical metrics (timings aside).
func TestDeterministicTraining(t *testing.T) {
	parent, stage0 := t, ""
	for _, algo := range []string{"grpo", "sirl"} {
		t.Run(algo, func(t *testing.T) {
			cfg := train.Defaults()
			cfg.Name, cfg.Seed, cfg.Device = "determinism-"+algo, 5, "cuda"
			cfg.Stages = []string{"sft", "rl"}
			cfg.LogSamples = 1 << 20
			cfg.Model.Preset = "tiny"
			cfg.Model.MaxSeq = 160
			// One operation mod 5: 100 SFT steps bring the tiny model to about
			// half right, so RL groups mix successes and failures and train.
			cfg.Task.Name, cfg.Task.Mod, cfg.Task.TrainMin, cfg.Task.TrainMax = "t1", 5, 1, 1
			cfg.Task.HeldOut, cfg.Task.Hard, cfg.Task.MaxResponseLen = 8, 0, 24
			cfg.SFT.Steps, cfg.SFT.BatchSize, cfg.SFT.EvalEvery, cfg.SFT.Optim.LR = 100, 16, 0, 3e-3
			cfg.RL.Algo, cfg.RL.Steps, cfg.RL.PromptsPerStep, cfg.RL.NumGenerations = algo, 3, 4, 4
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			var opt train.Options
			if gpu.Emulated() {
				// The emulator is far slower than a GPU: the 100 SFT steps run
				// on the CPU engine, then 4 more SFT steps and 2 RL steps on
				// the emulated engine, twice.
				if stage0 == "" { // the same for both algorithms
					stage0 = cpuStage0(parent, cfg)
				}
				opt.Checkpoint = stage0
				cfg.SFT.Steps, cfg.RL.Steps = 4, 2
			}
			dirs := [2]string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
			for _, dir := range dirs {
				e := open(t, testPlan)
				opt.Out = dir
				if _, err := train.Run(context.Background(), e, cfg, opt); err != nil {
					t.Fatal(err)
				}
				e.Close()
			}
			read := func(dir, name string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			sameWeights(t, filepath.Join(dirs[0], "final.safetensors"), filepath.Join(dirs[1], "final.safetensors"))
			// samples.jsonl holds every trained sequence's text (absent when no
			// step had one, e.g. sirl without a repair).
			sa, _ := os.ReadFile(filepath.Join(dirs[0], "samples.jsonl"))
			sb, _ := os.ReadFile(filepath.Join(dirs[1], "samples.jsonl"))
			if algo == "grpo" && len(sa) == 0 {
				t.Error("grpo logged no samples: the sampled-token check compared nothing")
			}
			if !bytes.Equal(sa, sb) {
				t.Errorf("samples.jsonl differ:\n%.400s\nvs\n%.400s", sa, sb)
			}
			ma, mb := untimed(t, read(dirs[0], "metrics.jsonl")), untimed(t, read(dirs[1], "metrics.jsonl"))
			if ma != mb {
				t.Errorf("metrics.jsonl differ (timings aside):\n%.600s\nvs\n%.600s", ma, mb)
			}
			if !strings.Contains(ma, `"stage":"rl"`) {
				t.Errorf("no RL step in metrics.jsonl")
			}
		})
	}
}

// cpuStage0 runs the SFT stage of cfg on the CPU engine and returns its
// final checkpoint.
func cpuStage0(t *testing.T, cfg train.Config) string {
	t.Helper()
	cfg.Stages = []string{"sft"}
	dir := t.TempDir()
	if _, err := train.Run(context.Background(), cpu.New(2), cfg, train.Options{Out: dir}); err != nil {
		t.Fatalf("stage 0 on the CPU engine: %v", err)
	}
	return filepath.Join(dir, "final.safetensors")
}

// sameWeights compares every tensor of two checkpoints bitwise (their
// metadata holds wall times, so the files themselves differ).
func sameWeights(t *testing.T, pa, pb string) {
	t.Helper()
	fa, err := model.ReadSafetensors(pa)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := model.ReadSafetensors(pb)
	if err != nil {
		t.Fatal(err)
	}
	na, nb := fa.Names(), fb.Names()
	if strings.Join(na, ",") != strings.Join(nb, ",") || len(na) == 0 {
		t.Fatalf("tensor names differ: %v vs %v", na, nb)
	}
	for _, n := range na {
		ta, err := fa.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := fb.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ta.Data {
			if math.Float32bits(ta.Data[i]) != math.Float32bits(tb.Data[i]) {
				t.Fatalf("%s[%d]: %g vs %g", n, i, ta.Data[i], tb.Data[i])
			}
		}
	}
}

// untimed re-encodes metrics rows without their wall-clock figures.
func untimed(t *testing.T, raw []byte) string {
	var out strings.Builder
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var row map[string]any
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		for k := range row {
			if strings.HasPrefix(k, "time/") || strings.Contains(k, "seconds") || strings.Contains(k, "per_second") ||
				k == "time" || k == "wall" || k == "elapsed" {
				delete(row, k)
			}
		}
		b, err := json.Marshal(row) // sorted keys
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.String()
}
