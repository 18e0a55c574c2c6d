package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/supervise"
	"github.com/sirl-dev/sirl/task"
)

type (
	rolloutSample = rollout.Sample
	taskProblem   = task.Problem
)

// group is one prompt with its G samples and their rewards.
type group struct {
	prob    task.Problem
	prompt  []int32
	samples []rollout.Sample
	texts   []string
	rewards []float64
}

// rlStep carries one step's batch and bookkeeping for metrics.
type rlStep struct {
	groups   []group
	seqs     []Seq
	rep      []Seq // repair-mode sequences (SIRL J_rep)
	counters map[string]float64
	decoded  int64 // all sampled tokens this step (rollouts, repairs, probes)
	prefill  int64
	phase    map[string]float64 // seconds per phase
	// seqClip: the policy loss clips sequence-level ratios (GSPO; the
	// algorithm's seqClip).
	seqClip bool
}

func (s *rlStep) add(key string, v float64) { s.counters[key] += v }

func (s *rlStep) addGen(st rollout.Stats) {
	s.decoded += st.Decoded
	s.prefill += st.Prefilled
}

// samplingParams are the rollout sampling knobs of the RL config.
func (e *env) samplingParams() backend.SampleParams {
	c := e.cfg.RL
	return backend.SampleParams{Temperature: float32(c.Temperature), TopK: c.TopK, TopP: float32(c.TopP)}
}

// rollGroups samples n prompts and G completions each, and scores them.
// Every rank draws the n prompts and the random streams of all n·G
// samples from rng; it rolls out and returns its share of the prompts
// (train/dp.go), each sample as one process would draw it.
func (e *env) rollGroups(rng *rand.Rand, n int, st *rlStep) ([]group, error) {
	c := e.cfg.RL
	probs := make([]task.Problem, n)
	for i := range probs {
		probs[i] = e.splits.SampleTrain(rng)
	}
	lo, hi := e.share(n)
	streams := sampleStreams(rng, n, c.NumGenerations, lo, hi)
	gs := make([]group, hi-lo)
	prompts := make([][]int32, len(gs))
	for i := range gs {
		gs[i].prob = probs[lo+i]
		gs[i].prompt = e.policyContext(gs[i].prob.Prompt)
		prompts[i] = gs[i].prompt
	}
	if len(gs) == 0 {
		return gs, nil
	}
	t0 := time.Now()
	samples, stats, err := e.gen.Generate(prompts, c.NumGenerations, e.samplingParams(), e.cfg.Task.MaxResponseLen, streams)
	e.be.ResetPool(backend.Activations)
	if err != nil {
		return nil, err
	}
	st.addGen(stats)
	st.phase["generation"] += time.Since(t0).Seconds()
	t1 := time.Now()
	for i := range gs {
		gs[i].samples = samples[i*c.NumGenerations : (i+1)*c.NumGenerations]
		for _, s := range gs[i].samples {
			txt := e.tok.Decode(s.Tokens)
			gs[i].texts = append(gs[i].texts, txt)
			gs[i].rewards = append(gs[i].rewards, e.task.Reward(gs[i].prob, txt))
		}
	}
	st.phase["scoring"] += time.Since(t1).Seconds()
	return gs, nil
}

// respTokens is a sample's scored response: its tokens plus EOS when it
// finished.
func (e *env) respTokens(s rollout.Sample) []int32 {
	out := append([]int32(nil), s.Tokens...)
	if s.Finished {
		out = append(out, e.eos)
	}
	return out
}

// normalise sets each sequence's token weights for the loss aggregation
// (supervise.TokenWeights), gated by the sequences' current Weight when
// gated is true (a nil Weight means all tokens active).
func (e *env) normalise(seqs []Seq, mode string, gated bool) error {
	lens := make([]int, len(seqs))
	gates := make([][]float32, len(seqs))
	for i, s := range seqs {
		lens[i] = len(s.Response)
		if gated && s.Weight != nil {
			gates[i] = s.Weight
		} else {
			g := make([]float32, len(s.Response))
			for j := range g {
				g[j] = 1
			}
			gates[i] = g
		}
	}
	tot, err := supervise.BatchTotals(lens, gates)
	if err != nil {
		return err
	}
	// Every rank's share of the step's batch is weighted by the whole
	// batch's totals (one all-reduce; every rank calls normalise alike).
	if tot, err = e.globalTotals(tot); err != nil {
		return err
	}
	w, err := supervise.TokenWeightsOver(mode, lens, gates, e.cfg.Task.MaxResponseLen, tot)
	if err != nil {
		return err
	}
	for i := range seqs {
		if seqs[i].IS != nil {
			for j := range w[i] {
				w[i][j] *= seqs[i].IS[j]
			}
		}
		seqs[i].Weight = w[i]
	}
	return nil
}

// rlMetrics summarises the groups of a step with TRL/verl names, over the
// groups of every rank (sums all-reduced; the reward's std in two passes,
// as meanStd computes it).
func (e *env) rlMetrics(gs []group, row map[string]any) error {
	var rs []float64
	var zeroStd, lens, clipped, n, allZero, allOne float64
	maxLen := 0
	for _, g := range gs {
		mean, std := meanStd(g.rewards)
		if std == 0 {
			zeroStd++
			if mean == 0 {
				allZero++
			} else {
				allOne++
			}
		}
		rs = append(rs, g.rewards...)
		for _, s := range g.samples {
			lens += float64(len(s.Tokens))
			maxLen = max(maxLen, len(s.Tokens))
			if s.Truncated {
				clipped++
			}
			n++
		}
	}
	ng := float64(len(gs))
	mean, std := meanStd(rs)
	if !e.single() {
		sum, nr := 0.0, float64(len(rs))
		for _, r := range rs {
			sum += r
		}
		if err := e.sumF64("rl metrics", &sum, &nr, &zeroStd, &lens, &clipped, &n, &allZero, &allOne, &ng); err != nil {
			return err
		}
		mean = sum / math.Max(1, nr)
		v := 0.0
		for _, r := range rs {
			v += (r - mean) * (r - mean)
		}
		if err := e.sumF64("reward variance", &v); err != nil {
			return err
		}
		std = math.Sqrt(v / math.Max(1, nr))
		m, err := e.maxOverRanks(float64(maxLen))
		if err != nil {
			return err
		}
		maxLen = int(m)
	}
	row[MetricReward] = mean
	row["reward_std"] = std
	row["frac_reward_zero_std"] = zeroStd / max(1, ng)
	row["groups/all_fail"] = allZero / max(1, ng)
	row["groups/all_pass"] = allOne / max(1, ng)
	row[MetricGroupsMixed] = (ng - zeroStd) / max(1, ng)
	row["completions/mean_length"] = lens / max(1, n)
	row["completions/max_length"] = maxLen
	row["completions/clipped_ratio"] = clipped / max(1, n)
	return nil
}

func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// errNoSignal is returned by a step builder when no sequence carries a
// gradient (every group all-pass or all-fail).
var errNoSignal = fmt.Errorf("no sequence with a non-zero advantage")
