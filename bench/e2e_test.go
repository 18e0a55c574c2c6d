package bench

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/train"
)

// cpuEngines opens CPU engines for every part.
func cpuEngines() Engines {
	return Engines{
		Bench: func(backend.PoolPlan) (backend.Backend, error) { return cpu.New(0), nil },
		Run:   func(train.Config) (backend.Backend, error) { return cpu.New(0), nil },
	}
}

// tinyE2E is E2E at shapes that run in seconds on two cores.
func tinyE2E() E2EConfig {
	return E2EConfig{Preset: "tiny", Vocab: 64, Batch: 2, Seq: 32, Warmup: 1, Steps: 3, PeakTFLOPs: 1,
		Prompts: 4, PromptLen: 5, NewTokens: 20, Seed: 3,
		RL: RLBenchConfig{Preset: "tiny", Task: "t1", Mod: 13, SFTSteps: 5, Steps: 2, Prompts: 2, Generations: 4,
			MaxResponse: 16, HeldOut: 4, Methods: []string{"grpo", "sirl-repair", "sirl-mc"}}}
}

// TestE2ECPU runs every part on the CPU engine and checks the figures
// against the shapes they were run at.
func TestE2ECPU(t *testing.T) {
	cfg := tinyE2E()
	rep, err := E2E(context.Background(), cfg, cpuEngines(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Engine != "cpu" || rep.Device == "" {
		t.Errorf("engine %q device %q", rep.Engine, rep.Device)
	}
	tr := rep.Train
	if tr == nil || tr.Batch != 2 || tr.Seq != 32 || tr.Steps != 3 {
		t.Fatalf("train figures %+v", tr)
	}
	if !(tr.TokensPerSec > 0) || math.Abs(tr.TokensPerSec*tr.StepMS/1e3-64) > 1e-6 {
		t.Errorf("tokens/s %g and step %g ms disagree with 64 tokens a step", tr.TokensPerSec, tr.StepMS)
	}
	if math.Abs(tr.MFU-tr.TFLOPs) > 1e-12 || math.Abs(tr.TFLOPs-tr.TokensPerSec*tr.FLOPsPerToken/1e12) > 1e-12 {
		t.Errorf("MFU %g, TFLOP/s %g inconsistent at peak 1", tr.MFU, tr.TFLOPs)
	}
	// The same batch every step: AdamW must bring the loss down from the
	// uniform-ish ln(64) start.
	if !(tr.LossLast < tr.LossFirst) || math.Abs(tr.LossFirst-math.Log(64)) > 0.5 {
		t.Errorf("loss %g → %g, want a fall from about ln 64 = %.3f", tr.LossFirst, tr.LossLast, math.Log(64))
	}
	g := rep.Generate
	if g == nil || g.Decoded != 4*20 || !(g.TokensPerSec > 0) {
		t.Fatalf("generate figures %+v", g)
	}
	// Every prompt holds ceil((5+19)/16) = 2 blocks at the end.
	if g.KVHighWater < 4*2 || g.Steps < 19 {
		t.Errorf("KV high water %d blocks, %d steps; want ≥ 8 and ≥ 19", g.KVHighWater, g.Steps)
	}
	r := rep.RL
	if r == nil || len(r.Methods) != 3 {
		t.Fatalf("rl figures %+v", r)
	}
	for _, m := range r.Methods {
		if m.StepsTimed != 1 || !(m.StepSeconds > 0) || !(m.Generation > 0) || m.Decoded < 2*4 {
			t.Errorf("%s: %+v", m.Method, m)
		}
		sum := m.Generation + m.Identify + m.Correct + m.Training + m.Other
		if sum < m.StepSeconds*(1-1e-9) {
			t.Errorf("%s: phases sum to %g s, step %g s", m.Method, sum, m.StepSeconds)
		}
	}
	if r.Methods[0].Identify != 0 || r.Methods[0].Correct != 0 {
		t.Errorf("grpo has identify/correct time: %+v", r.Methods[0])
	}
	if _, ok := r.Methods[1].Phases["identify_correct"]; !ok {
		t.Errorf("sirl-repair has no time/identify_correct: %v", r.Methods[1].Phases)
	}
	rows := rep.Results()
	if len(rows) != 2+1+3+2 {
		t.Errorf("%d result rows, want 8", len(rows))
	}
}

// TestE2EParts runs one part alone and rejects unknown parts and shapes.
func TestE2EParts(t *testing.T) {
	cfg := tinyE2E()
	cfg.Parts = []string{"generate"}
	rep, err := E2E(context.Background(), cfg, cpuEngines(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Train != nil || rep.RL != nil || rep.Generate == nil {
		t.Errorf("parts run: train %v generate %v rl %v", rep.Train != nil, rep.Generate != nil, rep.RL != nil)
	}
	for _, tc := range []struct {
		name string
		edit func(*E2EConfig)
		want string
	}{
		{"unknown part", func(c *E2EConfig) { c.Parts = []string{"trian"} }, `"trian"`},
		{"zero batch", func(c *E2EConfig) { c.Batch = 0 }, "batch"},
		{"no new tokens", func(c *E2EConfig) { c.NewTokens = 0 }, "new tokens"},
		{"one generation", func(c *E2EConfig) { c.RL.Generations = 1 }, "generations"},
		{"unknown method", func(c *E2EConfig) { c.RL.Methods = []string{"ppo"} }, `"ppo"`},
		{"unknown preset", func(c *E2EConfig) { c.Preset = "huge" }, "huge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyE2E()
			tc.edit(&c)
			_, err := E2E(context.Background(), c, cpuEngines(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestMeanStep checks the phase split on hand-made metrics rows.
func TestMeanStep(t *testing.T) {
	row := func(step, gen, ic, rep, mc, tr float64) map[string]any {
		r := map[string]any{"step_seconds": step, "time/generation": gen, "time/training": tr, "reward": 0.5,
			"groups/mixed": 0.25, "tokens/decoded": 100.0}
		if ic > 0 {
			r["time/identify_correct"] = ic
		}
		if rep > 0 {
			r["time/repair_generation"] = rep
		}
		if mc > 0 {
			r["time/mc_mc"] = mc
		}
		return r
	}
	for _, tc := range []struct {
		name                                string
		rows                                []map[string]any
		timed                               int
		step, gen, identify, correct, train float64
	}{
		{"grpo, warm-up dropped", []map[string]any{row(9, 9, 0, 0, 0, 0), row(1, 0.5, 0, 0, 0, 0.3), row(2, 1, 0, 0, 0, 0.5)},
			2, 1.5, 0.75, 0, 0, 0.4},
		{"repair", []map[string]any{row(3, 1, 1.5, 1, 0, 0.4)}, 1, 3, 1, 0.5, 1, 0.4},
		{"mc", []map[string]any{row(5, 0, 0, 0, 0, 0), row(4, 1, 2.5, 0, 2, 0.4)}, 1, 4, 1, 0.5, 2, 0.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := meanStep(tc.name, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			near := func(what string, got, want float64) {
				if math.Abs(got-want) > 1e-12 {
					t.Errorf("%s = %g, want %g", what, got, want)
				}
			}
			if m.StepsTimed != tc.timed {
				t.Errorf("steps timed %d, want %d", m.StepsTimed, tc.timed)
			}
			near("step", m.StepSeconds, tc.step)
			near("generation", m.Generation, tc.gen)
			near("identify", m.Identify, tc.identify)
			near("correct", m.Correct, tc.correct)
			near("training", m.Training, tc.train)
			near("other", m.Other, tc.step-tc.gen-tc.identify-tc.correct-tc.train)
			near("reward", m.Reward, 0.5)
		})
	}
	if _, err := meanStep("none", nil); err == nil {
		t.Error("no rows: no error")
	}
	r := &RLFigures{Methods: []RLMethod{{Method: "grpo", StepSeconds: 2}, {Method: "sirl-repair", StepSeconds: 3}}}
	if x := r.Ratio("sirl-repair"); x != 1.5 {
		t.Errorf("ratio %g, want 1.5", x)
	}
}

// TestFLOPsAndPlan checks the FLOP convention and that the GPU plan grows
// with the shapes and covers the activations a step keeps.
func TestFLOPsAndPlan(t *testing.T) {
	for _, tc := range []struct {
		preset string
		vocab  int
	}{{"gpt2-small", 32768}, {"small", 512}} {
		mc, err := model.Preset(tc.preset, tc.vocab)
		if err != nil {
			t.Fatal(err)
		}
		n := mc.NumParams()
		if !mc.TiedEmbeddings {
			n -= int64(mc.Vocab * mc.Dim)
		}
		want := 6*float64(n) + 12*float64(mc.Layers*mc.Dim*1024)
		if got := flopsPerToken(mc, 1024); got != want {
			t.Errorf("%s: %g FLOP/token, want %g", tc.preset, got, want)
		}
	}
	c := E2EDefaults("cuda")
	p := E2EPlan(c)
	mc, _ := c.modelConfig()
	// Forward keeps at least the residual stream, q/k/v/att and gate/up/h
	// per layer and token, in fp32.
	minAct := int64(c.Batch*c.Seq) * 4 * int64(mc.Layers) * int64(6*mc.Dim+3*mc.FFN)
	if p[backend.Activations] < minAct {
		t.Errorf("activations pool %d B < %d B kept by the forward", p[backend.Activations], minAct)
	}
	if p[backend.Weights] < 4*mc.NumParams() || p[backend.Optim] < 12*mc.NumParams() {
		t.Errorf("weights %d / optim %d B for %d params", p[backend.Weights], p[backend.Optim], mc.NumParams())
	}
	kvNeed := int64(c.Prompts*(c.PromptLen+c.NewTokens)) * int64(mc.Layers*2*mc.KVHeads*mc.HeadDim()*4)
	if p[backend.KV] < kvNeed {
		t.Errorf("kv pool %d B < %d B for every prompt", p[backend.KV], kvNeed)
	}
	c2 := c
	c2.Batch *= 2
	if E2EPlan(c2)[backend.Activations] <= p[backend.Activations] {
		t.Error("activations pool does not grow with the batch")
	}
	if p.Total() > 70<<30 {
		t.Errorf("plan of %.1f GiB does not fit an H100", float64(p.Total())/(1<<30))
	}
}

// TestKernelsCPU runs the kernel suite at tiny shapes.
func TestKernelsCPU(t *testing.T) {
	s := KernelShapes{GEMM: 64, AttnB: 1, AttnH: 2, AttnT: 32, AttnD: 8, SampleRows: 4, SampleVocab: 100,
		LossN: 16, LossDim: 8, LossV: 50, DType: backend.F32}
	res, err := Kernels(cpu.New(0), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	for _, r := range res {
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("%s = %g", r.Name, r.Value)
		}
	}
	s.LossV = 0
	if _, err := Kernels(cpu.New(0), s); err == nil {
		t.Error("zero vocabulary: no error")
	}
}
