package cli

import (
	"fmt"
	"slices"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/tokenizer"
	"github.com/sirl-dev/sirl/train"
)

// promptTokens is the longest prompt a run's plan provides for when the
// model's max_seq allows longer sequences (Hugging Face models): the plan
// holds prompt plus task.max_response_len tokens a sequence. A longer
// prompt still runs on the CPU engine; on a GPU it fails with the pool named.
const promptTokens = 512

// modelSource is where a run's model comes from: the checkpoint (a resumed
// run's rolling checkpoint first), else the Hugging Face folder, else the
// preset and its overrides over the character vocabulary.
func modelSource(cfg train.Config, checkpoint, modelDir string) memplan.Source {
	return memplan.Source{Checkpoint: checkpoint, ModelDir: modelDir,
		Preset: func() (model.Config, error) { return presetConfig(cfg.Model) }}
}

// presetConfig resolves the preset and its overrides as train does for a
// model built from scratch (the task vocabulary is the character one then).
func presetConfig(mc train.ModelConfig) (model.Config, error) {
	c, err := model.Preset(mc.Preset, tokenizer.NewChar().VocabSize())
	if err != nil {
		return c, fmt.Errorf("config key model.preset: %w", err)
	}
	for _, o := range []struct {
		dst *int
		v   int
	}{{&c.Dim, mc.Dim}, {&c.Layers, mc.Layers}, {&c.Heads, mc.Heads}, {&c.KVHeads, mc.KVHeads},
		{&c.FFN, mc.FFN}, {&c.MaxSeq, mc.MaxSeq}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	c.TiedEmbeddings = mc.TiedEmbeddings
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config key model: %w", err)
	}
	return c, nil
}

// runWorkload is what a training run's stages ask of the pools: SFT batches
// and RL micro-batches with gradients, gradient-free log-prob chunks, the
// reference policy when an RL stage has a KL term, and rollout prefill and
// decode at the rollout engine's batch limits over its KV cache (every
// prompt token is in the cache, so a prefill holds at most KVCacheTokens).
func runWorkload(cfg train.Config, mc model.Config) memplan.Workload {
	samples := max(1, cfg.RL.NumGenerations, cfg.Eval.Samples, cfg.SIRL.RepairCandidates, cfg.RL.MCRollouts, cfg.SIRL.MCRollouts)
	rl := slices.Contains(cfg.Stages, "rl")
	return memplan.Workload{
		SeqLen:         min(mc.MaxSeq, promptTokens+cfg.Task.MaxResponseLen),
		TrainSeqs:      max(cfg.SFT.BatchSize, memplan.TrainMicroBatch),
		ScoreSeqs:      memplan.ScoreChunk,
		RefModel:       rl && cfg.RL.Beta > 0,
		PrefillPrompts: memplan.DecodeBatch,
		PrefillTokens:  memplan.KVCacheTokens,
		Samples:        samples,
		DecodeRows:     memplan.DecodeBatch,
		KVTokens:       memplan.KVCacheTokens,
	}
}

// planMemory sizes the GPU engine's pools (DESIGN.md §4) for the model the
// run will actually use (src) and its stages. The engine prints the plan
// and refuses one larger than free memory before step 0.
func planMemory(cfg train.Config, src memplan.Source) (backend.PoolPlan, error) {
	mc, err := src.Config()
	if err != nil {
		return nil, fmt.Errorf("memory plan: %w", err)
	}
	return memplan.Plan(mc, runWorkload(cfg, mc))
}

// samplePlan sizes the pools of `train sample`: the weights, one sequence
// of up to max_seq tokens in the KV cache (capped at a run's cache) and one
// decode row.
func samplePlan(src memplan.Source) (backend.PoolPlan, error) {
	mc, err := src.Config()
	if err != nil {
		return nil, fmt.Errorf("memory plan: %w", err)
	}
	kv := min(mc.MaxSeq, memplan.KVCacheTokens) + 8*memplan.KVBlockSize
	return memplan.Plan(mc, memplan.Workload{SeqLen: kv, PrefillPrompts: 1, Samples: 1, DecodeRows: 1, KVTokens: kv})
}
