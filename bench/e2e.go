package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/train"
)

// H100PeakTFLOPs is the dense bf16 tensor-core peak of an H100 SXM, the MFU
// denominator of the GPU figures.
const H100PeakTFLOPs = 989

// E2EConfig sizes `train bench e2e`: (a) a training step, (b) batched
// generation through the paged KV cache, (c) RL steps per method with their
// wall time split into phases.
type E2EConfig struct {
	// Parts selects "train", "generate" and "rl" (all when empty).
	Parts []string `json:"parts"`
	// Preset and Vocab give the model of parts (a) and (b).
	Preset string `json:"preset"`
	Vocab  int    `json:"vocab"`
	// Batch × Seq tokens per training step; Warmup untimed steps, then
	// Steps timed ones.
	Batch  int `json:"batch"`
	Seq    int `json:"seq"`
	Warmup int `json:"warmup"`
	Steps  int `json:"steps"`
	// PeakTFLOPs is the MFU denominator (0: no MFU figure).
	PeakTFLOPs float64 `json:"peak_tflops"`
	// Prompts random prompts of PromptLen tokens, NewTokens sampled each
	// (temperature 1, no EOS, so every prompt runs to NewTokens).
	Prompts   int `json:"prompts"`
	PromptLen int `json:"prompt_len"`
	NewTokens int `json:"new_tokens"`
	// RL is part (c).
	RL RLBenchConfig `json:"rl"`
	// Seed drives the weights, the token ids and the sampling.
	Seed uint64 `json:"seed"`
}

// E2EDefaults returns the figures' shapes for an engine: on "cuda" the
// issue's shapes (the gpt2-small preset at B16×T1024, 64 prompts × 256 new
// tokens, RL on the quickstart model); otherwise small shapes that run in
// about a minute on two cores and exercise the same code.
func E2EDefaults(device string) E2EConfig {
	if device == "cuda" {
		return E2EConfig{Preset: "gpt2-small", Vocab: 32768, Batch: 16, Seq: 1024, Warmup: 2, Steps: 10,
			PeakTFLOPs: H100PeakTFLOPs, Prompts: 64, PromptLen: 64, NewTokens: 256, Seed: 1,
			RL: RLBenchConfig{Preset: "small", Task: "t1", Mod: 13, SFTSteps: 400, Steps: 3, Prompts: 16,
				Generations: 8, MaxResponse: 40, HeldOut: 64, Methods: []string{"grpo", "sirl-repair", "sirl-mc"}}}
	}
	return E2EConfig{Preset: "small", Vocab: 512, Batch: 8, Seq: 128, Warmup: 1, Steps: 3,
		Prompts: 16, PromptLen: 16, NewTokens: 64, Seed: 1,
		RL: RLBenchConfig{Preset: "small", Task: "t1", Mod: 13, SFTSteps: 150, Steps: 2, Prompts: 8,
			Generations: 8, MaxResponse: 40, HeldOut: 32, Methods: []string{"grpo", "sirl-repair", "sirl-mc"}}}
}

// Engines opens the engines of the benchmark.
type Engines struct {
	// Bench opens the engine of parts (a) and (b), with pools sized by plan
	// (a CPU engine ignores it).
	Bench func(plan backend.PoolPlan) (backend.Backend, error)
	// Run opens a fresh engine for one train.Run of part (c); it is closed
	// after the run.
	Run func(cfg train.Config) (backend.Backend, error)
}

// E2EReport is the result of E2E; parts not run are nil.
type E2EReport struct {
	Device   string        `json:"device"`
	Engine   string        `json:"engine"`
	Config   E2EConfig     `json:"config"`
	Train    *TrainFigures `json:"train,omitempty"`
	Generate *GenFigures   `json:"generate,omitempty"`
	RL       *RLFigures    `json:"rl,omitempty"`
	Seconds  float64       `json:"wall_seconds"`
}

// TrainFigures is part (a): one training step (forward, fused LM-head NLL
// loss, backward, gradient clipping, AdamW over every parameter).
type TrainFigures struct {
	Model  model.Config `json:"model"`
	Params int64        `json:"params"`
	Batch  int          `json:"batch"`
	Seq    int          `json:"seq"`
	Steps  int          `json:"steps_timed"`
	// FLOPsPerToken is 6·N + 12·L·d·T, N the parameters of the matmuls (the
	// LM head counted, the embedding lookup not).
	FLOPsPerToken float64 `json:"flops_per_token"`
	StepMS        float64 `json:"step_ms"`
	TokensPerSec  float64 `json:"tokens_per_s"`
	TFLOPs        float64 `json:"tflops"`
	// MFU is TFLOPs / PeakTFLOPs (0 without a peak).
	MFU float64 `json:"mfu"`
	// LossFirst and LossLast are the mean NLL of the first and last step
	// (the same batch every step, so it falls when the update works).
	LossFirst float64 `json:"loss_first"`
	LossLast  float64 `json:"loss_last"`
	// ActDType is the dtype of the final hidden state (the activations).
	ActDType string `json:"activation_dtype"`
}

// GenFigures is part (b): one rollout.Generate call over random prompts.
type GenFigures struct {
	Prompts      int     `json:"prompts"`
	PromptLen    int     `json:"prompt_len"`
	NewTokens    int     `json:"new_tokens"`
	Decoded      int64   `json:"decoded"`
	Seconds      float64 `json:"seconds"`
	TokensPerSec float64 `json:"tokens_per_s"`
	Steps        int     `json:"decode_steps"`
	KVHighWater  int     `json:"kv_blocks_high_water"`
}

// E2E runs the selected parts and returns their figures. Progress lines go
// to log.
func E2E(ctx context.Context, cfg E2EConfig, eng Engines, log io.Writer) (*E2EReport, error) {
	if log == nil {
		log = io.Discard
	}
	start := time.Now()
	rep := &E2EReport{Config: cfg}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.has("train") || cfg.has("generate") {
		// Parts (a) and (b) share one engine, released before part (c)
		// opens its own.
		if err := benchParts(cfg, eng, rep, log); err != nil {
			return nil, err
		}
	}
	if cfg.has("rl") {
		r, err := rlSteps(ctx, cfg.RL, cfg.Seed, eng.Run, log)
		if err != nil {
			return nil, fmt.Errorf("bench e2e rl: %w", err)
		}
		rep.RL = r
		if rep.Device == "" {
			rep.Device, rep.Engine = r.Device, r.Engine
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// benchParts runs parts (a) and (b) on one engine, closed on return.
func benchParts(cfg E2EConfig, eng Engines, rep *E2EReport, log io.Writer) error {
	mc, err := cfg.modelConfig()
	if err != nil {
		return err
	}
	be, err := eng.Bench(E2EPlan(cfg))
	if err != nil {
		return fmt.Errorf("bench e2e: engine: %w", err)
	}
	defer be.Close()
	rep.Device, rep.Engine = be.Device(), be.Name()
	m, err := model.New(be, mc, cfg.Seed)
	if err != nil {
		return fmt.Errorf("bench e2e: model: %w", err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xe2e))
	if cfg.has("train") {
		fmt.Fprintf(log, "[e2e] train step: %s (%.1fM params), B%d×T%d\n", cfg.Preset, float64(mc.NumParams())/1e6, cfg.Batch, cfg.Seq)
		if rep.Train, err = trainStep(m, cfg, rng); err != nil {
			return fmt.Errorf("bench e2e train: %w", err)
		}
	}
	if cfg.has("generate") {
		fmt.Fprintf(log, "[e2e] generate: %d prompts × %d new tokens\n", cfg.Prompts, cfg.NewTokens)
		if rep.Generate, err = generate(m, cfg, rng); err != nil {
			return fmt.Errorf("bench e2e generate: %w", err)
		}
	}
	return nil
}

func (c E2EConfig) has(part string) bool {
	if len(c.Parts) == 0 {
		return true
	}
	for _, p := range c.Parts {
		if p == part {
			return true
		}
	}
	return false
}

func (c E2EConfig) validate() error {
	for _, p := range c.Parts {
		if p != "train" && p != "generate" && p != "rl" {
			return fmt.Errorf("bench e2e: unknown part %q (train, generate, rl)", p)
		}
	}
	if c.has("train") && (c.Batch < 1 || c.Seq < 2 || c.Steps < 1 || c.Warmup < 0) {
		return fmt.Errorf("bench e2e: batch %d and steps %d must be positive, seq %d at least 2 (one context token, the rest scored), warm-up %d ≥ 0", c.Batch, c.Steps, c.Seq, c.Warmup)
	}
	if c.has("generate") && (c.Prompts < 1 || c.PromptLen < 1 || c.NewTokens < 1) {
		return fmt.Errorf("bench e2e: prompts %d, prompt length %d, new tokens %d must be positive", c.Prompts, c.PromptLen, c.NewTokens)
	}
	if c.has("rl") {
		return c.RL.validate()
	}
	return nil
}

// modelConfig is the preset with the vocabulary, its context widened to the
// longest sequence the parts need.
func (c E2EConfig) modelConfig() (model.Config, error) {
	mc, err := model.Preset(c.Preset, c.Vocab)
	if err != nil {
		return mc, fmt.Errorf("bench e2e: %w", err)
	}
	mc.MaxSeq = max(mc.MaxSeq, c.Seq, c.PromptLen+c.NewTokens)
	return mc, nil
}

// E2EPlan sizes the GPU pools for parts (a) and (b) with memplan: one
// training step of Batch × Seq tokens with gradients and moments, one
// prefill of every prompt, decode steps over every prompt, a KV cache for
// every prompt to its last token, and 2 GiB of scratch for the loss's
// logits chunks. A bad preset gets an empty plan (E2E reports the preset
// error first).
func E2EPlan(c E2EConfig) backend.PoolPlan {
	mc, err := c.modelConfig()
	if err != nil {
		return backend.PoolPlan{}
	}
	plan, err := memplan.Plan(mc, memplan.Workload{SeqLen: mc.MaxSeq, TrainSeqs: c.Batch,
		PrefillPrompts: c.Prompts, PrefillTokens: c.Prompts * c.PromptLen, Samples: 1, DecodeRows: c.Prompts,
		KVTokens: e2eKVBlocks(c) * memplan.KVBlockSize, Scratch: 2 << 30})
	if err != nil {
		return backend.PoolPlan{}
	}
	return plan
}

// e2eKVBlocks is the KV cache of part (b): every prompt to its last token,
// one spare block per prompt and 16 more.
func e2eKVBlocks(c E2EConfig) int {
	return c.Prompts*(ceilDiv(c.PromptLen+c.NewTokens, memplan.KVBlockSize)+1) + 16
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// flopsPerToken is 6·N + 12·L·d·T with N the matmul parameters.
func flopsPerToken(mc model.Config, T int) float64 {
	n := mc.NumParams()
	if !mc.TiedEmbeddings {
		n -= int64(mc.Vocab) * int64(mc.Dim)
	}
	return 6*float64(n) + 12*float64(mc.Layers)*float64(mc.Dim)*float64(T)
}

// trainStep times part (a): train.SFTStep, the step `train run` takes in
// its SFT stage, with train's optimizer (AdamW at a constant lr 1e-4,
// betas 0.9/0.95, weight decay 0.01, clipping at 1), on a fixed random
// batch of B sequences of T tokens (one context token, T−1 scored).
func trainStep(m *model.Model, cfg E2EConfig, rng *rand.Rand) (*TrainFigures, error) {
	be, mc := m.B, m.Cfg
	B, T := cfg.Batch, cfg.Seq
	rows := make([][]int32, B)
	for b := range rows {
		rows[b] = make([]int32, T)
		for i := range rows[b] {
			rows[b][i] = int32(rng.IntN(mc.Vocab))
		}
	}
	batch := func() []train.Seq {
		seqs := make([]train.Seq, B)
		for b, r := range rows {
			seqs[b] = train.Seq{Context: r[:1], Response: r[1:]}
		}
		return seqs
	}
	m.EnsureTrainState() // gradients and AdamW moments
	opt := train.NewOptimizer(train.OptimConfig{LR: 1e-4, Beta1: 0.9, Beta2: 0.95, WeightDecay: 0.01,
		GradClip: 1, Schedule: "constant"}, cfg.Warmup+cfg.Steps)
	steps := 0
	step := func() (train.StepFigures, error) {
		steps++
		return train.SFTStep(m, batch(), opt)
	}
	fig := &TrainFigures{Model: mc, Params: mc.NumParams(), Batch: B, Seq: T, Steps: cfg.Steps,
		FLOPsPerToken: flopsPerToken(mc, T)}
	first, err := step()
	if err != nil {
		return nil, err
	}
	fig.LossFirst, fig.ActDType = first.Loss, first.HiddenDType.String()
	for i := 1; i < cfg.Warmup; i++ {
		if _, err := step(); err != nil {
			return nil, err
		}
	}
	if err := be.Sync(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	for i := 0; i < cfg.Steps; i++ {
		f, err := step()
		if err != nil {
			return nil, err
		}
		fig.LossLast = f.Loss
	}
	if err := be.Sync(); err != nil {
		return nil, err
	}
	sec := time.Since(t0).Seconds() / float64(cfg.Steps)
	if math.IsNaN(fig.LossLast) || math.IsInf(fig.LossLast, 0) {
		return nil, fmt.Errorf("loss is %g after %d steps", fig.LossLast, steps)
	}
	fig.StepMS = sec * 1e3
	fig.TokensPerSec = float64(B*T) / sec
	fig.TFLOPs = fig.TokensPerSec * fig.FLOPsPerToken / 1e12
	if cfg.PeakTFLOPs > 0 {
		fig.MFU = fig.TFLOPs / cfg.PeakTFLOPs
	}
	return fig, nil
}

// generate times part (b): one warm-up call on a few prompts, then one
// Generate over every prompt (prefill included in the time).
func generate(m *model.Model, cfg E2EConfig, rng *rand.Rand) (*GenFigures, error) {
	eng, err := rollout.New(m, rollout.Config{BlockSize: memplan.KVBlockSize, NumBlocks: e2eKVBlocks(cfg), MaxBatch: max(cfg.Prompts, 1), EOS: -1})
	if err != nil {
		return nil, err
	}
	defer eng.Cache().Close()
	prompts := make([][]int32, cfg.Prompts)
	for i := range prompts {
		prompts[i] = make([]int32, cfg.PromptLen)
		for j := range prompts[i] {
			prompts[i][j] = int32(rng.IntN(m.Cfg.Vocab))
		}
	}
	sp := backend.SampleParams{Temperature: 1, TopP: 1}
	if _, _, err := eng.Generate(prompts[:min(4, len(prompts))], 1, sp, min(8, cfg.NewTokens), rng); err != nil {
		return nil, err
	}
	if err := m.B.Sync(); err != nil {
		return nil, err
	}
	samples, st, err := eng.Generate(prompts, 1, sp, cfg.NewTokens, rng)
	if err != nil {
		return nil, err
	}
	for i, s := range samples {
		if len(s.Tokens) != cfg.NewTokens {
			return nil, fmt.Errorf("prompt %d: %d tokens generated, want %d", i, len(s.Tokens), cfg.NewTokens)
		}
	}
	return &GenFigures{Prompts: cfg.Prompts, PromptLen: cfg.PromptLen, NewTokens: cfg.NewTokens,
		Decoded: st.Decoded, Seconds: st.Seconds, TokensPerSec: float64(st.Decoded) / st.Seconds,
		Steps: st.Steps, KVHighWater: st.KVHighWater}, nil
}

// Results flattens the report into the `train bench` table.
func (r *E2EReport) Results() []Result {
	var out []Result
	if t := r.Train; t != nil {
		name := fmt.Sprintf("e2e train %s B%d×T%d", r.Config.Preset, t.Batch, t.Seq)
		out = append(out, Result{Name: name, Value: t.TokensPerSec, Unit: "tokens/s",
			Note: fmt.Sprintf("%.1f ms/step, %.2f TFLOP/s, %s activations, loss %.3f→%.3f", t.StepMS, t.TFLOPs, t.ActDType, t.LossFirst, t.LossLast)})
		if r.Config.PeakTFLOPs > 0 {
			out = append(out, Result{Name: "e2e train MFU", Value: 100 * t.MFU, Unit: "%",
				Note: fmt.Sprintf("of %g TFLOP/s", r.Config.PeakTFLOPs)})
		}
	}
	if g := r.Generate; g != nil {
		out = append(out, Result{Name: fmt.Sprintf("e2e generate %d×%d (prompt %d)", g.Prompts, g.NewTokens, g.PromptLen),
			Value: g.TokensPerSec, Unit: "tokens/s", Note: fmt.Sprintf("%.2f s, %d decode steps, %d KV blocks", g.Seconds, g.Steps, g.KVHighWater)})
	}
	if r.RL != nil {
		out = append(out, r.RL.results()...)
	}
	return out
}
