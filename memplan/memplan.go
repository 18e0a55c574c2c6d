// Package memplan sizes an engine's memory pools (backend.PoolPlan) from
// the model that will actually run — a preset with its overrides, a Hugging
// Face folder's config.json or a checkpoint's header — and the shape of the
// work: training micro-batches, rollout prefill and decode batches, the
// paged KV cache. It is the one place that knows how many bytes each pool
// needs; the CLI, train and bench take its figures and constants.
//
// The counts follow the allocations of package model (Forward, Backward,
// Prefill, Step), train (batch tensors, the fused loss's outputs) and
// rollout (sampling): every tensor is counted at 4 bytes an element (fp32
// and i32) and rounded up to the GPU engine's 256-byte sub-allocation
// granularity. The GPU engine's activations pool is a bump arena reset once
// per micro-step, so a step needs the sum of its allocations, which is what
// is counted. The planner does not import package gpu.
package memplan

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/model"
)

// KVBlockSize is the number of tokens per block of the paged KV cache of
// training runs, sampling and the benchmarks.
const KVBlockSize = 16

// KVCacheTokens is the capacity in tokens of a training run's rollout KV
// cache (a multiple of KVBlockSize).
const KVCacheTokens = 4096 * 8

// DecodeBatch is the most sequences a training run's rollout engine feeds
// to one Prefill or Step call (rollout.Config.MaxBatch).
const DecodeBatch = 512

// TrainMicroBatch is the most sequences in one forward+backward of an RL
// loss; the gradients of the micro-batches add up.
const TrainMicroBatch = 64

// ScoreChunk is the most sequences in one gradient-free log-prob pass (old
// and reference log-probs).
const ScoreChunk = 128

// DefaultReplay is the replay pool of a plan whose workload gives none.
const DefaultReplay int64 = 16 << 20

// align is the sub-allocation granularity the plan assumes for every tensor
// (the GPU engine's).
const align = 256

// slack is added to each pool for what the counts leave out (a few small
// tensors, the allocator's rounding of the last hole).
const slack = 4 << 20

// Workload is the shape of the work the pools must hold. Zero fields are
// work that does not happen (no training, no generation), except SeqLen
// (the model's MaxSeq) and Replay (DefaultReplay).
type Workload struct {
	// SeqLen is the longest sequence, prompt plus response, in tokens: the
	// padded row length of training and prefill batches. 0: the model's
	// MaxSeq; never more than it.
	SeqLen int
	// TrainSeqs is the most sequences in one forward+backward (0: no
	// training, no gradients or moments).
	TrainSeqs int
	// ScoreSeqs is the most sequences in one gradient-free forward
	// (log-probs under the old or the reference policy).
	ScoreSeqs int
	// RefModel keeps a frozen copy of the weights (RL with a KL term).
	RefModel bool
	// PrefillPrompts is the most prompts in one Prefill call, and
	// PrefillTokens the most padded prompt tokens in it (0: PrefillPrompts ×
	// SeqLen).
	PrefillPrompts int
	PrefillTokens  int
	// Samples is the most samples drawn per prompt (each gets its own copy
	// of the prompt's logits row when sampled after the prefill).
	Samples int
	// DecodeRows is the most sequences in one decode Step.
	DecodeRows int
	// KVTokens is the KV cache's capacity in tokens (rounded up to whole
	// KVBlockSize blocks).
	KVTokens int
	// Replay is the replay pool in bytes (0: DefaultReplay).
	Replay int64
	// Scratch is the GPU engine's scratch pool in bytes (0: the engine's
	// backend.DefaultScratch, so the plan leaves it out).
	Scratch int64
}

// Plan returns the bytes of each pool for running model c on w: Weights,
// Optim, Activations, KV and Replay, plus Scratch when w gives it.
func Plan(c model.Config, w Workload) (backend.PoolPlan, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("memplan: %w", err)
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	T := c.MaxSeq
	if w.SeqLen > 0 {
		T = min(w.SeqLen, c.MaxSeq)
	}
	weights := paramBytes(c)
	if w.RefModel {
		weights *= 2
	}
	var optim int64
	if w.TrainSeqs > 0 { // gradients and two AdamW moments
		optim = 3 * paramBytes(c)
	}
	a := acts{c: c, T: int64(T)}
	act := max(a.train(int64(w.TrainSeqs)), a.score(int64(w.ScoreSeqs)))
	if w.PrefillPrompts > 0 {
		tok := int64(w.PrefillTokens)
		if tok == 0 {
			tok = int64(w.PrefillPrompts) * int64(T)
		}
		rows := int64(w.PrefillPrompts) * int64(max(w.Samples, 1))
		act = max(act, a.prefill(int64(w.PrefillPrompts), tok, min(rows, kvBlocks(w.KVTokens))))
	}
	if w.DecodeRows > 0 {
		act = max(act, a.decode(int64(w.DecodeRows), int64(ceilDiv(T, KVBlockSize)+1)))
	}
	plan := backend.PoolPlan{
		backend.Weights:     weights + slack,
		backend.Optim:       optim + slack,
		backend.Activations: act + slack,
		backend.KV:          kvBytes(c, w.KVTokens) + slack,
		backend.Replay:      w.Replay,
	}
	if w.Replay == 0 {
		plan[backend.Replay] = DefaultReplay
	}
	if w.Scratch > 0 {
		plan[backend.Scratch] = w.Scratch
	}
	return plan, nil
}

func (w Workload) validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"SeqLen", int64(w.SeqLen)}, {"TrainSeqs", int64(w.TrainSeqs)}, {"ScoreSeqs", int64(w.ScoreSeqs)},
		{"PrefillPrompts", int64(w.PrefillPrompts)}, {"PrefillTokens", int64(w.PrefillTokens)},
		{"Samples", int64(w.Samples)}, {"DecodeRows", int64(w.DecodeRows)}, {"KVTokens", int64(w.KVTokens)},
		{"Replay", w.Replay}, {"Scratch", w.Scratch}} {
		if f.v < 0 {
			return fmt.Errorf("memplan: workload %s = %d, must be ≥ 0", f.name, f.v)
		}
	}
	if (w.PrefillPrompts > 0 || w.DecodeRows > 0) && w.KVTokens == 0 {
		return fmt.Errorf("memplan: workload generates (PrefillPrompts %d, DecodeRows %d) but KVTokens is 0",
			w.PrefillPrompts, w.DecodeRows)
	}
	return nil
}

// alignUp rounds n bytes up to the sub-allocation granularity.
func alignUp(n int64) int64 { return (n + align - 1) / align * align }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// paramBytes is one fp32 copy of every parameter tensor.
func paramBytes(c model.Config) int64 {
	var n int64
	for _, s := range c.ParamSizes() {
		n += alignUp(4 * s)
	}
	return n
}

// kvBlocks is the number of blocks of a cache of tokens positions.
func kvBlocks(tokens int) int64 { return int64(ceilDiv(tokens, KVBlockSize)) }

// kvBytes is the KV pool of a cache of tokens positions: per layer one K and
// one V tensor [blocks, KVBlockSize, KVHeads, HeadDim] in fp32.
func kvBytes(c model.Config, tokens int) int64 {
	if tokens == 0 {
		return 0
	}
	per := kvBlocks(tokens) * KVBlockSize * int64(c.KVHeads) * int64(c.HeadDim()) * 4
	return 2 * int64(c.Layers) * alignUp(per)
}

// Operands is the plan of an op benchmark that allocates act bytes of
// operands in the activations pool and nothing from a model: act plus 10%
// and 256 MiB for the engine's rounding and the ops' outputs, 16 MiB for
// each other pool, and scratch bytes of scratch (0: the engine's default).
func Operands(act, scratch int64) backend.PoolPlan {
	const small = 16 << 20
	p := backend.PoolPlan{backend.Weights: small, backend.Optim: small, backend.Activations: act*11/10 + 256<<20,
		backend.KV: small, backend.Replay: small}
	if scratch > 0 {
		p[backend.Scratch] = scratch
	}
	return p
}
