//go:build cudaemu

package train

// End-to-end runs on the emulated CUDA engine (gpu built with -tags
// cudaemu: the unchanged kernels/*.cu and gpu/ engine, executed on the CPU)
// against the CPU engine: SFT, GRPO and sirl-repair steps, and the sample
// command's path on a tiny Hugging Face folder.
//
// Tolerances. Both engines hold these models in fp32 (no bf16 weight or
// activation here), so the engines differ only in the order of their sums
// (cuBLAS-style blocked GEMM vs row loops, warp-shuffle and block
// reductions vs sequential ones, the online softmax of flash attention vs a
// two-pass softmax) and in fast intrinsics (__expf). That is a few fp32 ulps
// per op, grown by the layers and the optimizer steps: per-token
// log-probabilities agree to emuLogpTol, losses and gradient norms to
// emuRelTol relative. Sampled tokens must be identical: the uniforms are
// the same, and a few-ulp difference moves a token only when a uniform
// falls within that distance of a CDF boundary (does not happen with these
// seeds; the test would say which token).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/hf"
	"github.com/sirl-dev/sirl/rollout"
)

// Measured here: log-probability gaps ≤ 4.5e-6, metric gaps ≤ 4.2e-7
// relative; the tolerances leave a factor of about 20 for other compilers
// and CPUs.
const (
	emuLogpTol = 1e-4 // absolute, per-token log-probability
	emuRelTol  = 1e-5 // relative (to 1 + |cpu|), per metric of a step
)

// emuEngine opens the emulated CUDA engine with pools for the tiny runs.
func emuEngine(t *testing.T) backend.Backend {
	t.Helper()
	b, err := gpu.New(gpu.PoolPlan{backend.Weights: 64 << 20, backend.Optim: 64 << 20,
		backend.Activations: 256 << 20, backend.KV: 64 << 20, backend.Replay: 32 << 20, gpu.Scratch: 256 << 20})
	if err != nil {
		t.Fatalf("gpu.New (emulated): %v", err)
	}
	if !strings.Contains(b.Device(), "emulated") {
		t.Fatalf("device %q does not say it is emulated", b.Device())
	}
	t.Cleanup(func() { b.(*gpu.Engine).Close() })
	return b
}

// runBoth runs c on the CPU engine and on the emulated engine and returns
// their run folders.
func runBoth(t *testing.T, c Config, opt Options) (cpuDir, emuDir string) {
	t.Helper()
	cpuDir, emuDir = t.TempDir(), t.TempDir()
	for _, r := range []struct {
		dir string
		be  backend.Backend
	}{{cpuDir, cpu.New(2)}, {emuDir, emuEngine(t)}} {
		o := opt
		o.Out = r.dir
		sum, err := Run(context.Background(), r.be, c, o)
		if err != nil {
			t.Fatalf("run on %s: %v", r.be.Name(), err)
		}
		if d, _ := sum["device"].(string); r.be.Name() == "cuda" && !strings.Contains(d, "emulated") {
			t.Errorf("summary device %q does not say it is emulated", d)
		}
	}
	return cpuDir, emuDir
}

// compareMetrics checks every numeric metric of every step (wall-clock
// figures aside) within emuRelTol and returns the largest relative gap.
func compareMetrics(t *testing.T, cpuDir, emuDir string, keys ...string) float64 {
	t.Helper()
	a, err := readRows(filepath.Join(cpuDir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := readRows(filepath.Join(emuDir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d metric rows on the CPU, %d emulated", len(a), len(b))
	}
	worst, seen := 0.0, map[string]bool{}
	for i := range a {
		names := make([]string, 0, len(a[i]))
		for k := range a[i] {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			x, ok := a[i][k].(float64)
			if !ok || strings.HasPrefix(k, "time/") || strings.Contains(k, "second") {
				continue
			}
			y, ok := b[i][k].(float64)
			if !ok {
				t.Errorf("step %d: %s = %v on the CPU, missing emulated", i, k, x)
				continue
			}
			seen[k] = true
			gap := math.Abs(x-y) / (1 + math.Abs(x))
			worst = max(worst, gap)
			if !(gap <= emuRelTol) {
				t.Errorf("row %d: %s = %.7g on the CPU, %.7g emulated (relative gap %.2g > %g)", i, k, x, y, gap, emuRelTol)
			}
		}
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("no step logged %q: the comparison missed it", k)
		}
	}
	return worst
}

// TestEmulatedSFTMatchesCPU: a few SFT steps from the same initial weights.
func TestEmulatedSFTMatchesCPU(t *testing.T) {
	c := tinyConfig()
	c.Stages = []string{"sft"}
	c.SFT.Steps, c.SFT.BatchSize = 4, 8
	cd, ed := runBoth(t, c, Options{})
	worst := compareMetrics(t, cd, ed, "loss", "grad_norm")
	t.Logf("SFT, %d steps: largest relative metric gap %.2g", c.SFT.Steps, worst)
}

// repairStage0 is stage0 with room for repair contexts (max_seq 320): the
// CPU engine trains it, and it solves some prompts, so RL groups mix.
func repairStage0(t *testing.T) (Config, string) {
	t.Helper()
	return stage0With(t, func(c *Config) { c.Model.MaxSeq = 320 })
}

// TestEmulatedRLMatchesCPU: GRPO and sirl-repair steps from one Stage-0
// checkpoint: the same sampled sequences and the same losses.
func TestEmulatedRLMatchesCPU(t *testing.T) {
	base, ckpt := repairStage0(t)
	for _, tc := range []struct {
		method      string
		steps, gens int
		keys        []string // metrics that must be logged (and so compared)
	}{
		// GRPO trains on sampled sequences: samples.jsonl must hold them;
		// the second step samples from the updated weights.
		{"grpo", 2, 4, []string{"policy_loss", "reward"}},
		// sirl-repair logs samples only for accepted corrections (none from
		// this weak model: the audit rejects them); its repair generation and
		// repair loss are compared through the metrics.
		{"sirl-repair", 1, 8, []string{"reward", "sirl/failures_attempted", "tokens/decoded_repair",
			"sirl/edit_distance_mean", "sirl/repair_loss"}},
	} {
		m := tc.method
		t.Run(m, func(t *testing.T) {
			c := base
			apply, ok := methodOverrides(m)
			if !ok {
				t.Fatalf("unknown method %s", m)
			}
			apply(&c)
			c.Stages = []string{"rl"}
			c.SIRL.AuditFromPrompt = false // keep the lucky anchors: repairs run
			c.RL.Steps, c.RL.PromptsPerStep, c.RL.NumGenerations = tc.steps, 4, tc.gens
			c.LogSamples = 1 << 20
			cd, ed := runBoth(t, c, Options{Checkpoint: ckpt})
			sa, _ := os.ReadFile(filepath.Join(cd, "samples.jsonl"))
			sb, _ := os.ReadFile(filepath.Join(ed, "samples.jsonl"))
			if len(sa) == 0 && m == "grpo" {
				t.Fatal("no samples logged on the CPU: the token comparison compared nothing")
			}
			if string(sa) != string(sb) {
				la, lb := strings.Split(string(sa), "\n"), strings.Split(string(sb), "\n")
				for i := range min(len(la), len(lb)) {
					if la[i] != lb[i] {
						t.Fatalf("sampled sequences differ first at line %d:\ncpu %s\nemu %s", i, la[i], lb[i])
					}
				}
				t.Fatalf("samples.jsonl: %d lines on the CPU, %d emulated", len(la), len(lb))
			}
			worst := compareMetrics(t, cd, ed, tc.keys...)
			t.Logf("%s, %d steps: identical samples (%d bytes), largest relative metric gap %.2g", m, c.RL.Steps, len(sa), worst)
		})
	}
}

// TestEmulatedSampleMatchesCPU: the sample command's path (LoadSampler on a
// Hugging Face folder, the rollout engine) gives the same tokens greedily
// and with temperature sampling, log-probabilities within emuLogpTol.
func TestEmulatedSampleMatchesCPU(t *testing.T) {
	f := newHFFixture(t)
	gen := func(be backend.Backend, sp backend.SampleParams) []rollout.Sample {
		s, err := hf.LoadSampler(be, hf.SamplerSource{ModelDir: f.model})
		if err != nil {
			t.Fatal(err)
		}
		in := s.Prompt("What is 2+3?")
		const maxNew = 20
		g, err := rollout.New(s.Model, rollout.Config{BlockSize: 16, NumBlocks: 4 * ((len(in)+maxNew)/16 + 8), MaxBatch: 4, EOS: s.EOS})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := g.Generate([][]int32{in}, 3, sp, maxNew, rand.New(rand.NewPCG(1, 7)))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, sp := range []backend.SampleParams{{TopP: 1}, {Temperature: 1, TopP: 1}, {Temperature: 0.8, TopK: 20, TopP: 0.9}} {
		t.Run(fmt.Sprintf("t%g-k%d-p%g", sp.Temperature, sp.TopK, sp.TopP), func(t *testing.T) {
			a, b := gen(cpu.New(2), sp), gen(emuEngine(t), sp)
			if len(a) != len(b) {
				t.Fatalf("%d samples on the CPU, %d emulated", len(a), len(b))
			}
			worst, tokens := 0.0, 0
			for i := range a {
				if fmt.Sprint(a[i].Tokens) != fmt.Sprint(b[i].Tokens) {
					t.Fatalf("sample %d: CPU tokens %v, emulated %v", i, a[i].Tokens, b[i].Tokens)
				}
				for j := range a[i].Logp {
					d := math.Abs(float64(a[i].Logp[j] - b[i].Logp[j]))
					worst = max(worst, d)
					if !(d <= emuLogpTol) {
						t.Errorf("sample %d token %d: logp %g on the CPU, %g emulated", i, j, a[i].Logp[j], b[i].Logp[j])
					}
				}
				tokens += len(a[i].Tokens)
			}
			if tokens == 0 {
				t.Fatal("no token sampled: the comparison compared nothing")
			}
			t.Logf("%d tokens identical, largest log-prob gap %.2g", tokens, worst)
		})
	}
}
