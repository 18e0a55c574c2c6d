package memplan_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/rollout"
)

// writeHFConfig writes dir/config.json from keys.
func writeHFConfig(t *testing.T, keys map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	raw, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, model.HFConfigFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// qwen05 is Qwen2.5-0.5B's config.json (the size keys and those that
// change the parameter count).
func qwen05() map[string]any {
	return map[string]any{"architectures": []string{model.ArchQwen2}, "hidden_size": 896, "num_hidden_layers": 24,
		"num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
		"max_position_embeddings": 32768, "tie_word_embeddings": true, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}
}

// writeCheckpoint saves a fresh model of c (no moments) and returns its path.
func writeCheckpoint(t *testing.T, c model.Config) string {
	t.Helper()
	m, err := model.New(cpu.New(1), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := m.SaveCheckpoint(p, nil, false); err != nil {
		t.Fatal(err)
	}
	return p
}

func preset(t *testing.T, name string, vocab int) model.Config {
	t.Helper()
	c, err := model.Preset(name, vocab)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSourceConfig(t *testing.T) {
	small := preset(t, "small", 40)
	odd := preset(t, "tiny", 57)
	odd.Dim, odd.Layers, odd.FFN = 48, 3, 80
	ck := writeCheckpoint(t, odd)
	qdir := writeHFConfig(t, qwen05())
	llama := writeHFConfig(t, map[string]any{"architectures": []string{model.ArchLlama}, "hidden_size": 64,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96,
		"vocab_size": 300, "max_position_embeddings": 256})
	noMeta := filepath.Join(t.TempDir(), "plain.safetensors")
	if err := model.WriteSafetensors(noMeta, []model.NamedTensor{{Name: "x", Shape: []int{1}, Data: []float32{1}}}, nil); err != nil {
		t.Fatal(err)
	}
	presetFn := func() (model.Config, error) { return small, nil }
	tests := []struct {
		name    string
		src     memplan.Source
		params  int64  // want NumParams
		dim     int    // want Dim
		errPart string // want an error containing this
	}{
		{name: "preset", src: memplan.Source{Preset: presetFn}, params: small.NumParams(), dim: 128},
		{name: "hf qwen2.5-0.5b", src: memplan.Source{ModelDir: qdir, Preset: presetFn}, params: 494032768, dim: 896},
		{name: "hf llama", src: memplan.Source{ModelDir: llama}, dim: 64,
			params: 2*300*64 + 2*(2*64+64*64+2*(32*64)+64*64+3*64*96) + 64},
		{name: "checkpoint wins", src: memplan.Source{Checkpoint: ck, ModelDir: qdir, Preset: presetFn}, params: odd.NumParams(), dim: 48},
		{name: "missing folder", src: memplan.Source{ModelDir: filepath.Join(t.TempDir(), "none")}, errPart: "none"},
		{name: "not a sirl checkpoint", src: memplan.Source{Checkpoint: noMeta}, errPart: "plain.safetensors"},
		{name: "no source", src: memplan.Source{}, errPart: "no model source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.src.Config()
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("err = %v, want one naming %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.NumParams() != tc.params || c.Dim != tc.dim {
				t.Errorf("config %+v: %d params, dim %d; want %d, %d", c, c.NumParams(), c.Dim, tc.params, tc.dim)
			}
		})
	}
}

// TestPlanModelPools checks the pools that depend on the model alone
// against hand counts: weights and optim from the parameter count, KV from
// the cache geometry; each pool carries the same 4 MiB of slack.
func TestPlanModelPools(t *testing.T) {
	q, err := memplan.Source{ModelDir: writeHFConfig(t, qwen05())}.Config()
	if err != nil {
		t.Fatal(err)
	}
	const slack = 4 << 20
	tests := []struct {
		name        string
		c           model.Config
		w           memplan.Workload
		weightsMiB  float64 // want (weights − slack) within 0.1% of this
		optimFactor int64   // optim − slack = factor × weights bytes
		kvBytes     int64
	}{
		{name: "qwen2.5-0.5b train", c: q, w: memplan.Workload{TrainSeqs: 8, SeqLen: 64, KVTokens: 4096},
			weightsMiB: 494032768 * 4.0 / (1 << 20), optimFactor: 3, kvBytes: 2 * 24 * 4096 * 2 * 64 * 4},
		{name: "qwen2.5-0.5b with reference", c: q, w: memplan.Workload{TrainSeqs: 8, SeqLen: 64, RefModel: true},
			weightsMiB: 2 * 494032768 * 4.0 / (1 << 20), optimFactor: 3, kvBytes: 0},
		{name: "small inference", c: preset(t, "small", 40), w: memplan.Workload{DecodeRows: 1, KVTokens: 100},
			weightsMiB: float64(preset(t, "small", 40).NumParams()) * 4 / (1 << 20), optimFactor: 0,
			kvBytes: 2 * 4 * 112 * 128 * 4}, // 100 tokens → 7 blocks of 16
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := memplan.Plan(tc.c, tc.w)
			if err != nil {
				t.Fatal(err)
			}
			w := p[backend.Weights] - slack
			if got := float64(w) / (1 << 20); got < tc.weightsMiB || got > tc.weightsMiB*1.001 {
				t.Errorf("weights %.2f MiB, want %.2f (+0.1%% rounding)", got, tc.weightsMiB)
			}
			perCopy := w
			if tc.w.RefModel {
				perCopy /= 2
			}
			if got := p[backend.Optim] - slack; got != tc.optimFactor*perCopy {
				t.Errorf("optim %d B, want %d × %d", got, tc.optimFactor, perCopy)
			}
			if got := p[backend.KV] - slack; got != tc.kvBytes {
				t.Errorf("kv %d B, want %d", got, tc.kvBytes)
			}
			if p[backend.Replay] != memplan.DefaultReplay {
				t.Errorf("replay %d B, want the default", p[backend.Replay])
			}
			if _, ok := p[backend.Scratch]; ok {
				t.Errorf("plan sets scratch without a workload asking: %v", p)
			}
		})
	}
}

// TestPlanActivationsGrow checks that the activations pool follows every
// workload dimension that allocates activations.
func TestPlanActivationsGrow(t *testing.T) {
	c := preset(t, "small", 512)
	base := memplan.Workload{SeqLen: 64, TrainSeqs: 8, ScoreSeqs: 8, PrefillPrompts: 8, Samples: 2, DecodeRows: 16, KVTokens: 4096}
	act := func(w memplan.Workload, c model.Config) int64 {
		p, err := memplan.Plan(c, w)
		if err != nil {
			t.Fatal(err)
		}
		return p[backend.Activations]
	}
	a0 := act(base, c)
	grow := map[string]func(w *memplan.Workload, c *model.Config){
		"train seqs":  func(w *memplan.Workload, _ *model.Config) { w.TrainSeqs *= 4 },
		"seq len":     func(w *memplan.Workload, _ *model.Config) { w.SeqLen *= 2 },
		"score seqs":  func(w *memplan.Workload, _ *model.Config) { w.ScoreSeqs = 200 },
		"decode rows": func(w *memplan.Workload, _ *model.Config) { w.DecodeRows = 4096 },
		"prefill":     func(w *memplan.Workload, _ *model.Config) { w.PrefillPrompts, w.Samples = 512, 8 },
		"vocabulary":  func(_ *memplan.Workload, c *model.Config) { c.Vocab = 1 << 20 },
		"layers":      func(_ *memplan.Workload, c *model.Config) { c.Layers = 8 },
	}
	for name, f := range grow {
		w, c2 := base, c
		f(&w, &c2)
		if a := act(w, c2); a <= a0 {
			t.Errorf("%s: activations %d B, not above the base's %d B", name, a, a0)
		}
	}
	// SeqLen never exceeds the model's context.
	long := base
	long.SeqLen = 10 * c.MaxSeq
	atMax := base
	atMax.SeqLen = c.MaxSeq
	if act(long, c) != act(atMax, c) {
		t.Error("SeqLen above max_seq changes the plan")
	}
}

func TestPlanErrors(t *testing.T) {
	c := preset(t, "tiny", 13)
	bad := c
	bad.Heads = 3
	for _, tc := range []struct {
		c    model.Config
		w    memplan.Workload
		want string
	}{
		{c, memplan.Workload{TrainSeqs: -1}, "TrainSeqs"},
		{c, memplan.Workload{Scratch: -5}, "Scratch"},
		{c, memplan.Workload{DecodeRows: 4}, "KVTokens"},
		{bad, memplan.Workload{}, "heads"},
	} {
		if _, err := memplan.Plan(tc.c, tc.w); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one naming %s", tc.w, err, tc.want)
		}
	}
}

// activationHigh runs f on a fresh CPU engine holding a model of c and
// returns the activations pool's high-water mark.
func activationHigh(t *testing.T, c model.Config, f func(m *model.Model)) int64 {
	t.Helper()
	be := cpu.New(2)
	m, err := model.New(be, c, 3)
	if err != nil {
		t.Fatal(err)
	}
	f(m)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range be.PoolStats() {
		if s.Pool == backend.Activations {
			return s.HighWater
		}
	}
	t.Fatal("no activations pool in the stats")
	return 0
}

// checkTight wants plan (less the slack) to cover high and to exceed it by
// at most 10% (the 256-byte rounding of each tensor; the CPU engine counts
// exact bytes).
func checkTight(t *testing.T, what string, plan, high int64) {
	t.Helper()
	plan -= 4 << 20
	t.Logf("%s: plan %.2f MiB, CPU high-water %.2f MiB (×%.3f)", what, float64(plan)/(1<<20), float64(high)/(1<<20), float64(plan)/float64(high))
	if plan < high || float64(plan) > 1.1*float64(high) {
		t.Errorf("%s: planned activations %d B, used %d B: want used ≤ plan ≤ 1.1 × used", what, plan, high)
	}
}

// TestActivationsMatchModel runs the model's own training step, prefill and
// decode at a workload's shapes and compares the activations high-water
// mark with the plan of exactly that workload.
func TestActivationsMatchModel(t *testing.T) {
	c := preset(t, "small", 512)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := func(n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(rng.IntN(c.Vocab))
		}
		return v
	}
	plan := func(w memplan.Workload) int64 {
		p, err := memplan.Plan(c, w)
		if err != nil {
			t.Fatal(err)
		}
		return p[backend.Activations]
	}

	t.Run("train step", func(t *testing.T) {
		const B, T = 6, 100
		high := activationHigh(t, c, func(m *model.Model) {
			m.EnsureTrainState()
			be, N := m.B, B*T
			acts, err := m.Forward(ids(N), B, T)
			if err != nil {
				t.Fatal(err)
			}
			f := func(dt backend.DType) backend.Tensor { return be.Alloc(backend.Activations, dt, N) }
			// train's batch tensors, then the loss outputs (as train.forwardLoss).
			tg, adv, old, w, ref := f(backend.I32), f(backend.F32), f(backend.F32), f(backend.F32), f(backend.F32)
			be.UploadI32(tg, ids(N))
			be.Fill(w, 1)
			out := backend.PGLossOut{Logp: f(backend.F32), Entropy: f(backend.F32), LSE: f(backend.F32), Loss: f(backend.F32),
				Coef: f(backend.F32), Clip: f(backend.F32), KL: f(backend.F32)}
			in := backend.PGLossIn{Hidden: acts.Hidden(), Head: m.Head(), Targets: tg, Adv: adv, OldLogp: old, RefLogp: ref,
				Weight: w, Mode: backend.PGNLL}
			be.PGLossForward(out, in)
			dh := be.Alloc(backend.Activations, backend.F32, N, c.Dim)
			be.PGLossBackward(dh, m.HeadGrad(), in, out.LSE, out.Coef)
			if err := m.Backward(acts, dh); err != nil {
				t.Fatal(err)
			}
		})
		checkTight(t, "train", plan(memplan.Workload{SeqLen: T, TrainSeqs: B}), high)
	})

	t.Run("generate", func(t *testing.T) {
		const P, L, n, maxNew = 12, 20, 4, 30
		prompts := make([][]int32, P)
		for i := range prompts {
			prompts[i] = ids(L)
		}
		blocks := P * n * ((L+maxNew)/memplan.KVBlockSize + 2)
		high := activationHigh(t, c, func(m *model.Model) {
			e, err := rollout.New(m, rollout.Config{BlockSize: memplan.KVBlockSize, NumBlocks: blocks, MaxBatch: P * n, EOS: -1})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.Generate(prompts, n, backend.SampleParams{Temperature: 1, TopP: 1}, maxNew, rand.New(rand.NewPCG(3, 4))); err != nil {
				t.Fatal(err)
			}
		})
		checkTight(t, "generate", plan(memplan.Workload{SeqLen: L + maxNew, PrefillPrompts: P, PrefillTokens: P * L,
			Samples: n, DecodeRows: P * n, KVTokens: blocks * memplan.KVBlockSize}), high)
	})
}
