package cli

import (
	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/tokenizer"
	"github.com/sirl-dev/sirl/train"
)

// planMemory sizes the GPU engine's pools from the config (DESIGN.md §4):
// weights (fp32 master + bf16 copy), optim (grads + 2 moments), activations
// for the largest micro-batch, the paged KV cache and the replay pool. The
// engine prints the plan and refuses one larger than free memory before
// step 0.
func planMemory(cfg train.Config) gpu.PoolPlan {
	vocab := tokenizer.NewChar().VocabSize()
	mc, err := model.Preset(cfg.Model.Preset, vocab)
	if err != nil {
		mc, _ = model.Preset("small", vocab)
	}
	if cfg.Model.Dim > 0 {
		mc.Dim = cfg.Model.Dim
	}
	if cfg.Model.Layers > 0 {
		mc.Layers = cfg.Model.Layers
	}
	if cfg.Model.FFN > 0 {
		mc.FFN = cfg.Model.FFN
	}
	params := mc.NumParams()
	T := int64(mc.MaxSeq)
	// RL losses run in micro-batches of 64 sequences (train.update); SFT in
	// one batch.
	seqs := int64(max(cfg.SFT.BatchSize, 64))
	tokens := seqs * T
	d, f, L := int64(mc.Dim), int64(mc.FFN), int64(mc.Layers)
	// Per token and layer the backward keeps ~ 10·d + 3·FFN floats; plus
	// the loss op's per-token vectors and the hidden gradient.
	act := tokens*4*(L*(10*d+3*f)+4*d+16) + 64<<20
	kvHeads := int64(mc.KVHeads)
	hd := int64(mc.HeadDim())
	kv := int64(train.KVCacheTokens) * L * 2 * kvHeads * hd * 4
	return gpu.PoolPlan{
		backend.Weights:     params*6 + 16<<20,
		backend.Optim:       params*12 + 16<<20,
		backend.Activations: act,
		backend.KV:          kv + 16<<20,
		backend.Replay:      64 << 20,
	}
}
