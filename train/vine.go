package train

import (
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/supervise"
	"github.com/sirl-dev/sirl/task"
)

// vinePPO is VinePPO-style RL: per-step advantages from Monte-Carlo value
// estimates at every step boundary (METHOD.md §2.3(1)); the loss aggregates
// over all tokens (DAPO's token mean) unless rl.loss_type says otherwise.
type vinePPO struct{}

func (v vinePPO) build(e *env, rng *rand.Rand, gs []group, st *rlStep) error {
	seqs, err := e.vineSeqs(rng, gs, st)
	if err != nil {
		return err
	}
	st.seqs = seqs
	return e.normalise(st.seqs, v.aggregation(e.cfg), false)
}

func (vinePPO) aggregation(c Config) string       { return aggMode(lossTypeOr(c, "dapo")) }
func (vinePPO) seqClip() bool                     { return false }
func (vinePPO) dynamicSampling() bool             { return false }
func (vinePPO) saveState(map[string]string) error { return nil }

// stepStarts returns the response-token indices where each step begins
// up to the answer span (0 first), as the task's splitter sees them
// (built-in tasks: one past every ';' before the '#'; math: the first
// token of every line; see steps.go).
func (e *env) stepStarts(resp []int32) []int {
	return e.layoutOf(resp).starts
}

// mcValues estimates V̂(prefix) for each prefix (policy-mode context plus a
// partial response) from m continuations each, and returns per prefix the
// continuations with their rewards.
func (e *env) mcValues(rng *rand.Rand, prob []task.Problem, prefixes [][]int32, partial [][]int32, m int, st *rlStep, key string) ([]float64, [][]mcCont, error) {
	if len(prefixes) == 0 {
		return nil, nil, nil
	}
	t0 := time.Now()
	maxNew := e.cfg.Task.MaxResponseLen
	vals := make([]float64, len(prefixes))
	conts := make([][]mcCont, len(prefixes))
	const chunk = 64
	for lo := 0; lo < len(prefixes); lo += chunk {
		hi := min(lo+chunk, len(prefixes))
		// Each continuation may use what is left of the length budget.
		samples, stats, err := e.gen.Generate(prefixes[lo:hi], m, e.samplingParams(), maxNew, rng)
		e.be.ResetPool(backend.Activations)
		if err != nil {
			return nil, nil, err
		}
		st.addGen(stats)
		st.add("tokens/decoded_"+key, float64(stats.Decoded))
		for i := lo; i < hi; i++ {
			ok := 0.0
			for j := 0; j < m; j++ {
				s := samples[(i-lo)*m+j]
				full := append(append([]int32(nil), partial[i]...), s.Tokens...)
				over := len(full) > maxNew
				r := 0.0
				if !over && s.Finished {
					r = e.task.Reward(prob[i], e.tok.Decode(full))
				}
				ok += r
				conts[i] = append(conts[i], mcCont{tokens: full, finished: s.Finished && !over, reward: r, logp: s.Logp})
			}
			vals[i] = ok / float64(m)
		}
	}
	st.phase["mc_"+key] += time.Since(t0).Seconds()
	return vals, conts, nil
}

// mcCont is one Monte-Carlo continuation: the whole response (prefix plus
// continuation), whether it ended with EOS inside the budget, its reward.
type mcCont struct {
	tokens   []int32
	finished bool
	reward   float64
	logp     []float32
}

// vineSeqs builds VinePPO-style sequences: V̂ at every step boundary from
// rl.mc_rollouts continuations, A_k = V̂(s_k+1) − V̂(s_k) on step k's tokens
// (METHOD.md §2.3(1), §4.1).
func (e *env) vineSeqs(rng *rand.Rand, gs []group, st *rlStep) ([]Seq, error) {
	c := e.cfg.RL
	var seqs []Seq
	var probs []task.Problem
	var prefixes, partials [][]int32
	for _, g := range gs {
		for _, s := range g.samples {
			if c.MaskTruncatedCompletions && s.Truncated {
				continue
			}
			for _, b := range e.stepStarts(s.Tokens)[1:] {
				probs = append(probs, g.prob)
				part := s.Tokens[:b]
				prefixes = append(prefixes, append(append([]int32(nil), g.prompt...), part...))
				partials = append(partials, part)
			}
		}
	}
	vals, _, err := e.mcValues(rng, probs, prefixes, partials, c.MCRollouts, st, "vine")
	if err != nil {
		return nil, err
	}
	k := 0
	for _, g := range gs {
		v0, _ := meanStd(g.rewards)
		for i, s := range g.samples {
			if c.MaskTruncatedCompletions && s.Truncated {
				continue
			}
			starts := e.stepStarts(s.Tokens)
			values := []float64{v0}
			for range starts[1:] {
				values = append(values, vals[k])
				k++
			}
			values = append(values, 0)
			stepAdv, err := supervise.VineAdvantages(values, g.rewards[i])
			if err != nil {
				return nil, err
			}
			resp := e.respTokens(s)
			adv := make([]float32, len(resp))
			for j := range resp {
				si := 0
				for si+1 < len(starts) && j >= starts[si+1] {
					si++
				}
				adv[j] = float32(stepAdv[si])
			}
			seqs = append(seqs, Seq{Context: g.prompt, Response: resp, Adv: adv})
		}
	}
	return seqs, nil
}
