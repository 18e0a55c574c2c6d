// Package rollout is the batched generation engine: prompts in, sampled
// responses with per-token log-probabilities out. It drives model.Prefill and
// model.Step over a paged KV cache: it prefills each prompt once, forks its n
// samples from the prompt's cache blocks (copy-on-write), and decodes every
// live sample of every prompt together in batched Step calls.
//
// Scheduling. Generate works in rounds. A round first admits the waiting
// prompt groups that fit in the cache (see Memory) and prefills them with
// model.Prefill, MaxBatch prompts of any lengths per call (one batched causal
// forward, right-padded); each prompt's last-position logits row is
// replicated n times and sampled, and the prompt's sequence is forked for
// every sample that goes on but the last, which takes it over, so the
// samples share the prompt's blocks. The round then steps every live sample once with model.Step,
// MaxBatch samples per call, whatever prompt they came from and wherever
// they are in their sequence.
//
// Memory. A prompt group (the prompt and its n samples) is admitted only when
// its worst-case block need (see groupBlocks) fits next to the groups already
// admitted, so the cache never runs out mid-decode. Prompts that do not fit
// wait in order and are admitted as earlier groups finish: with a small cache
// the prompts are processed in waves instead of failing. Generate fails only
// when a single group cannot fit in the whole cache.
//
// Randomness. Before anything runs, Generate draws two uint64 from rng per
// sample, in sample order (prompt-major: prompt 0's n samples, then prompt
// 1's, ...), and seeds one PCG stream per sample with them. Each Step's
// uniform tensor holds one float32 per row, in row order, drawn from the
// stream of the sample that row belongs to, one draw per generated token.
// So a sample depends only on the rng state, its index, its prompt and the
// model, not on MaxBatch, the cache size or how samples were grouped into
// calls (up to the rounding of the batched kernels: a uniform that falls
// within ~1e-6 of a boundary of the token distribution may pick another
// token). In particular Generate(prompts, n) equals Generate with each prompt
// repeated n times and n = 1.
//
// Generate resets the backend's Activations pool before every Prefill and
// Step call: callers must not hold activations across a call.
package rollout

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/model"
)

// Config sizes the rollout engine.
type Config struct {
	// BlockSize is the number of tokens per KV-cache block.
	BlockSize int
	// NumBlocks is the number of KV-cache blocks (the cache holds
	// NumBlocks·BlockSize token positions over all sequences).
	NumBlocks int
	// MaxBatch is the most sequences decoded per Step call; larger batches
	// are split into several calls.
	MaxBatch int
	// EOS is the end-of-sequence token id. A negative EOS never matches, so
	// every sample runs to maxNew tokens.
	EOS int32
}

// Engine generates from one model with its own KV cache. An Engine is not
// safe for concurrent use.
type Engine struct {
	m     *model.Model
	b     backend.Backend
	cfg   Config
	cache *model.KVCache
	vocab int
}

// Sample is one generated response.
type Sample struct {
	// Prompt is the index of the prompt in the prompts slice.
	Prompt int
	// Tokens are the generated response tokens, EOS excluded.
	Tokens []int32
	// Logp holds the log-probability of each token of Tokens as returned by
	// the Sample op (temperature-scaled, unfiltered distribution).
	Logp []float32
	// Finished is true when EOS was produced.
	Finished bool
	// EOSLogp is the log-probability of the EOS token when Finished.
	EOSLogp float32
	// Truncated is true when maxNew tokens were generated without EOS.
	Truncated bool
}

// Stats reports the work of one Generate call.
type Stats struct {
	// Decoded is the number of sampled tokens, EOS included.
	Decoded int64
	// Prefilled is the number of prompt tokens prefilled (each prompt once).
	Prefilled int64
	// Prefills is the number of model.Prefill calls.
	Prefills int
	// Steps is the number of model.Step calls.
	Steps int
	// KVHighWater is the most cache blocks in use at once.
	KVHighWater int
	// KVShared is the most blocks referenced by more than one sequence at once.
	KVShared int
	// CopyOnWrite is the number of shared blocks copied before a write.
	CopyOnWrite int
	// Seconds is the wall time of the call.
	Seconds float64
}

// New makes an engine for m with a fresh KV cache of cfg.NumBlocks blocks.
func New(m *model.Model, cfg Config) (*Engine, error) {
	if m == nil {
		return nil, errors.New("rollout: nil model")
	}
	if cfg.BlockSize < 1 || cfg.NumBlocks < 1 || cfg.MaxBatch < 1 {
		return nil, fmt.Errorf("rollout: BlockSize (%d), NumBlocks (%d) and MaxBatch (%d) must be positive",
			cfg.BlockSize, cfg.NumBlocks, cfg.MaxBatch)
	}
	if m.B == nil {
		return nil, errors.New("rollout: model has no backend")
	}
	vocab := m.Cfg.Vocab
	if int(cfg.EOS) >= vocab {
		return nil, fmt.Errorf("rollout: EOS id %d is outside the vocabulary (%d)", cfg.EOS, vocab)
	}
	cache, err := m.NewKVCache(cfg.NumBlocks, cfg.BlockSize)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	return &Engine{m: m, b: m.B, cfg: cfg, cache: cache, vocab: vocab}, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Cache returns the engine's KV cache (for statistics).
func (e *Engine) Cache() *model.KVCache { return e.cache }

// Generate samples n responses of at most maxNew tokens (EOS included) for
// each prompt. Each prompt is prefilled once; its n samples fork the prompt's
// KV blocks. Samples are ordered prompt-major: prompt 0's n samples, then
// prompt 1's, and so on. The uniforms come from rng as the package comment
// describes, so the same rng state gives the same samples. Every sequence is
// released before Generate returns, on success and on error.
func (e *Engine) Generate(prompts [][]int32, n int, p backend.SampleParams, maxNew int, rng *rand.Rand) ([]Sample, Stats, error) {
	start := time.Now()
	p, err := e.check(prompts, n, p, maxNew, rng)
	if err != nil {
		return nil, Stats{}, err
	}
	samples := make([]Sample, len(prompts)*n)
	streams := make([]*rand.Rand, len(samples))
	for s := range samples {
		samples[s].Prompt = s / n
		samples[s].Tokens = make([]int32, 0, maxNew)
		samples[s].Logp = make([]float32, 0, maxNew)
		streams[s] = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	}
	r := &run{
		e: e, prompts: prompts, n: n, p: p, maxNew: maxNew,
		samples: samples, streams: streams,
	}
	cowBefore := e.cache.Stats().CoWCopies
	err = r.loop()
	r.releaseAll()
	r.stats.CopyOnWrite = e.cache.Stats().CoWCopies - cowBefore
	r.stats.Seconds = time.Since(start).Seconds()
	if err != nil {
		return nil, r.stats, err
	}
	return samples, r.stats, nil
}

// Greedy is Generate with temperature 0 and one sample per prompt.
func (e *Engine) Greedy(prompts [][]int32, maxNew int) ([]Sample, Stats, error) {
	p := backend.SampleParams{Temperature: 0, TopK: 0, TopP: 1}
	return e.Generate(prompts, 1, p, maxNew, rand.New(rand.NewPCG(0, 0)))
}

// check validates the arguments of Generate and returns the sampling
// parameters with TopP 0 read as 1 (disabled).
func (e *Engine) check(prompts [][]int32, n int, p backend.SampleParams, maxNew int, rng *rand.Rand) (backend.SampleParams, error) {
	switch {
	case n < 1:
		return p, fmt.Errorf("rollout: samples per prompt n = %d, want ≥ 1", n)
	case maxNew < 1:
		return p, fmt.Errorf("rollout: maxNew = %d, want ≥ 1", maxNew)
	case rng == nil:
		return p, errors.New("rollout: nil rng")
	case p.Temperature < 0:
		return p, fmt.Errorf("rollout: temperature %g, want ≥ 0", p.Temperature)
	case p.TopK < 0:
		return p, fmt.Errorf("rollout: top_k %d, want ≥ 0", p.TopK)
	case p.TopP < 0 || p.TopP > 1:
		return p, fmt.Errorf("rollout: top_p %g, want in (0, 1]", p.TopP)
	}
	if p.TopP == 0 {
		p.TopP = 1
	}
	if e.cache.FreeBlocks() != e.cfg.NumBlocks {
		return p, fmt.Errorf("rollout: KV cache holds %d blocks from elsewhere; Generate needs it empty",
			e.cfg.NumBlocks-e.cache.FreeBlocks())
	}
	for i, pr := range prompts {
		if len(pr) == 0 {
			return p, fmt.Errorf("rollout: prompt %d is empty", i)
		}
		for j, t := range pr {
			if t < 0 || int(t) >= e.vocab {
				return p, fmt.Errorf("rollout: prompt %d token %d is %d, outside the vocabulary (%d)", i, j, t, e.vocab)
			}
		}
		if l := len(pr) + maxNew - 1; l > e.m.Cfg.MaxSeq {
			return p, fmt.Errorf("rollout: prompt %d (%d tokens) plus maxNew = %d reaches %d positions, the model's max_seq is %d",
				i, len(pr), maxNew, l, e.m.Cfg.MaxSeq)
		}
		if need := groupBlocks(len(pr), n, maxNew, e.cfg.BlockSize); need > e.cfg.NumBlocks {
			return p, fmt.Errorf("rollout: prompt %d (%d tokens) with n = %d and maxNew = %d needs up to %d KV blocks of %d tokens; the cache has %d (raise NumBlocks)",
				i, len(pr), n, maxNew, need, e.cfg.BlockSize, e.cfg.NumBlocks)
		}
	}
	return p, nil
}

// groupBlocks is the most cache blocks a prompt of length lp and its n
// samples of at most maxNew tokens can hold at once: the prompt's blocks,
// shared by all samples, plus for each sample the blocks past the prompt's
// full blocks (its copy of a partly filled last prompt block, made on its
// first write, and the blocks of its own tokens). A sample's last token is
// never stepped, so a sample holds at most lp+maxNew−1 positions.
func groupBlocks(lp, n, maxNew, bs int) int {
	shared := ceilDiv(lp, bs)
	own := 0
	if maxNew > 1 {
		own = ceilDiv(lp+maxNew-1, bs) - lp/bs
	}
	return shared + n*own
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
