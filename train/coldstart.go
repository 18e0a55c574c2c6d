package train

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/task"
)

// The repair cold start of Stage 0 (METHOD.md §3.3, sft.cold_start).
//
// inject (the default) draws sft.repair_pairs training problems once and
// builds each repair example from a corrupted copy of the reference trace
// (the task's error injection). failures builds them from the policy's own
// failures instead: after sft.cold_start_after steps of policy SFT alone,
// and then every sft.eval_every steps, it samples rl.num_generations
// responses at temperature 1 on sft.cold_start_prompts fresh training
// prompts, keeps those that finished, are well formed and score 0, and
// puts (failure, anchor = reference, target = reference) into a pool of
// at most sft.repair_pairs pairs, the oldest replaced first. So the repair
// mode learns from the real error distribution, a wrong value propagated
// through every later step included. none trains no repair example.

// Cold-start modes (sft.cold_start); "" is inject.
const (
	ColdStartInject   = "inject"
	ColdStartFailures = "failures"
	ColdStartNone     = "none"
)

// coldStartModes are sft.cold_start's values ("" is inject, the default).
func coldStartModes() []string {
	return []string{"", ColdStartInject, ColdStartFailures, ColdStartNone}
}

// Random streams of the failures cold start, one pair per refresh (the
// refresh's step is the PCG's second word), so a refresh depends only on
// the seed, its step and the weights.
const (
	coldDrawStream   = 0xFA11_D7A3
	coldSampleStream = 0xFA11_5A3B
)

// extraColdPool is the run-state key of the failure pool.
const extraColdPool = "sft.cold_failures"

// ColdStart is the effective mode ("" reads as inject).
func (c SFTConfig) ColdStart() string {
	if c.ColdStartMode == "" {
		return ColdStartInject
	}
	return c.ColdStartMode
}

// repairColdStart reports whether Stage 0 trains the repair mode.
func (c SFTConfig) repairColdStart() bool {
	return c.RepairPairs > 0 && c.ColdStart() != ColdStartNone
}

// coldAfter is the step after which the failures cold start first samples
// (0: a third of sft.steps).
func (c SFTConfig) coldAfter() int {
	if c.ColdStartAfter > 0 {
		return c.ColdStartAfter
	}
	return c.Steps / 3
}

// coldPrompts is the training prompts sampled per refresh (0: batch_size).
func (c SFTConfig) coldPrompts() int {
	if c.ColdStartPrompts > 0 {
		return c.ColdStartPrompts
	}
	return c.BatchSize
}

// refreshDue reports whether the failure pool is refreshed before the step
// that follows done steps: at cold_start_after, then every eval_every steps
// (once only when eval_every is 0).
func (c SFTConfig) refreshDue(done int) bool {
	a := c.coldAfter()
	if done < a {
		return false
	}
	if done == a {
		return true
	}
	return c.EvalEvery > 0 && (done-a)%c.EvalEvery == 0
}

// failPair is one pool entry: the failure text and where its problem came
// from (the refresh's step and the problem's index among its draws), from
// which the problem is re-derived on resume.
type failPair struct {
	At      int    `json:"at"`
	Draw    int    `json:"draw"`
	Failure string `json:"failure"`
}

// failurePool is the failures cold start's pool, oldest first.
type failurePool struct {
	capacity int
	pairs    []failPair
	probs    []task.Problem // probs[i] is pairs[i]'s problem
	dirty    bool           // changed since the run state last recorded it
}

// add appends pairs (with their problems), dropping the oldest beyond the
// capacity.
func (p *failurePool) add(pairs []failPair, probs []task.Problem) {
	p.pairs = append(p.pairs, pairs...)
	p.probs = append(p.probs, probs...)
	if over := len(p.pairs) - p.capacity; over > 0 {
		p.pairs = slices.Clone(p.pairs[over:])
		p.probs = slices.Clone(p.probs[over:])
	}
	p.dirty = p.dirty || len(pairs) > 0
}

// coldDraws are the n training problems of the refresh before step at.
func (e *env) coldDraws(at, n int) []task.Problem {
	rng := rand.New(rand.NewPCG(e.cfg.Seed^coldDrawStream, uint64(at)))
	probs := make([]task.Problem, n)
	for i := range probs {
		probs[i] = e.splits.SampleTrain(rng)
	}
	return probs
}

// restoreColdPool reads the failure pool from the run state (resume) and
// re-derives each pair's problem from its refresh's draws.
func (e *env) restoreColdPool(p *failurePool) error {
	snap := e.state.Extra[extraColdPool]
	if snap == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(snap), &p.pairs); err != nil {
		return fmt.Errorf("checkpoint: run state %s: %w", extraColdPool, err)
	}
	draws := map[int][]task.Problem{}
	n := e.cfg.SFT.coldPrompts()
	for _, fp := range p.pairs {
		if draws[fp.At] == nil {
			draws[fp.At] = e.coldDraws(fp.At, n)
		}
		if fp.Draw < 0 || fp.Draw >= n {
			return fmt.Errorf("checkpoint: run state %s: draw %d of step %d is outside sft.cold_start_prompts %d", extraColdPool, fp.Draw, fp.At, n)
		}
		p.probs = append(p.probs, draws[fp.At][fp.Draw])
	}
	return nil
}

// saveColdPool records the pool in the run state when it changed.
func (e *env) saveColdPool(p *failurePool) error {
	if !p.dirty {
		return nil
	}
	b, err := json.Marshal(p.pairs)
	if err != nil {
		return fmt.Errorf("run state %s: %w", extraColdPool, err)
	}
	e.state.Extra[extraColdPool] = string(b)
	p.dirty = false
	return nil
}

// coldFigures are one refresh's counts.
type coldFigures struct {
	sampled, failed, kept float64
}

// refreshFailures samples the current policy on the refresh's fresh
// training prompts (every rank draws them all and the random streams of
// all samples, decodes its share, and the kept failures are gathered in
// rank order, so every rank holds the same pool) and adds the failures
// that finished, are well formed, score 0 and fit the model's context as
// a repair example. A prompt's identical failures are kept once.
func (e *env) refreshFailures(pool *failurePool, at int) (coldFigures, error) {
	var f coldFigures
	n, g := e.cfg.SFT.coldPrompts(), e.cfg.RL.NumGenerations
	probs := e.coldDraws(at, n)
	lo, hi := e.share(n)
	streams := sampleStreams(rand.New(rand.NewPCG(e.cfg.Seed^coldSampleStream, uint64(at))), n, g, lo, hi)
	var own []failPair
	if hi > lo {
		prompts := make([][]int32, 0, hi-lo)
		for _, p := range probs[lo:hi] {
			prompts = append(prompts, e.policyContext(p.Prompt))
		}
		samples, _, err := e.gen.Generate(prompts, g, backend.SampleParams{Temperature: 1, TopP: 1}, e.cfg.Task.MaxResponseLen, streams)
		e.be.ResetPool(backend.Activations)
		if err != nil {
			return f, fmt.Errorf("sft step %d: sampling the cold-start failures: %w", at+1, err)
		}
		for i := range prompts {
			p := probs[lo+i]
			seen := map[string]bool{}
			for _, s := range samples[i*g : (i+1)*g] {
				f.sampled++
				txt := e.tok.Decode(s.Tokens)
				if e.task.Reward(p, txt) > 0 {
					continue
				}
				f.failed++
				if !s.Finished || seen[txt] || !e.task.WellFormed(p, txt) || !e.repairFits(p, txt) {
					continue
				}
				seen[txt] = true
				own = append(own, failPair{At: at, Draw: lo + i, Failure: txt})
			}
		}
	}
	if err := e.sumF64("cold-start counts", &f.sampled, &f.failed); err != nil {
		return f, err
	}
	pairs, err := e.gatherPairs(own)
	if err != nil {
		return f, err
	}
	ps := make([]task.Problem, len(pairs))
	for i, fp := range pairs {
		ps[i] = probs[fp.Draw]
	}
	pool.add(pairs, ps)
	f.kept = float64(len(pairs))
	return f, nil
}

// gatherPairs concatenates every rank's pairs in rank order (own alone
// with one rank).
func (e *env) gatherPairs(own []failPair) ([]failPair, error) {
	if e.single() {
		return own, nil
	}
	b, err := json.Marshal(own)
	if err != nil {
		return nil, err
	}
	all, err := e.allGather("cold-start failures", b)
	if err != nil {
		return nil, err
	}
	var out []failPair
	for r, rb := range all {
		var ps []failPair
		if err := json.Unmarshal(rb, &ps); err != nil {
			return nil, fmt.Errorf("cold-start failures of rank %d: %w", r, err)
		}
		out = append(out, ps...)
	}
	return out, nil
}

// repairFits reports whether the repair example of failure on p fits the
// model's context.
func (e *env) repairFits(p task.Problem, failure string) bool {
	return len(e.repairContext(p, failure, p.Solution))+len(e.tok.Encode(p.Solution))+1 <= e.m.Cfg.MaxSeq
}

// failureSeq is the repair example of pool pair i: the failure, the
// reference as anchor and as target.
func (e *env) failureSeq(pool *failurePool, i int) Seq {
	p := pool.probs[i]
	resp := append(e.tok.Encode(p.Solution), e.eos)
	return Seq{Context: e.repairContext(p, pool.pairs[i].Failure, p.Solution), Response: resp}
}
