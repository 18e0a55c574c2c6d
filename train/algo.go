package train

import (
	"fmt"
	"math/rand/v2"
)

// algorithm is one RL algorithm family: it turns a step's rollout groups
// into the batches the update trains on and says how their loss aggregates.
// Adding an algorithm is one file with its implementation and one entry in
// algorithms.
type algorithm interface {
	// build lays out the policy batch st.seqs (and, for SIRL, the repair
	// batch st.rep) from the step's groups gs, with each sequence's
	// advantages and loss weights set: the weights carry the aggregation.
	build(e *env, rng *rand.Rand, gs []group, st *rlStep) error
	// aggregation is the policy loss's aggregation over tokens and
	// sequences, a supervise.TokenWeights mode (rl.loss_type, when set,
	// overrides the algorithm's own).
	aggregation(c Config) string
	// seqClip reports whether the policy loss clips sequence-level ratios
	// (GSPO, rl.gspo_epsilon) instead of token-level ones (rl.epsilon).
	seqClip() bool
	// dynamicSampling reports whether only groups with mixed rewards fill
	// the batch, drawing more prompts as needed (DAPO).
	dynamicSampling() bool
	// saveState records the algorithm's state for the checkpoint in the
	// run state's extra map (SIRL: the replay pool).
	saveState(extra map[string]string) error
}

// algoEntry is one rl.algo value and how to start its algorithm.
type algoEntry struct {
	name string
	open func(e *env) (algorithm, error)
}

// algorithms is the table of rl.algo values, in the order the config
// error lists them.
func algorithms() []algoEntry {
	group := func(name string, a groupBaseline) algoEntry {
		return algoEntry{name, func(*env) (algorithm, error) { return a, nil }}
	}
	return []algoEntry{
		group("grpo", groupBaseline{scaling: "grpo", lossType: "grpo"}),
		group("dapo", groupBaseline{scaling: "grpo", lossType: "dapo", dynamic: true}),
		group("dr_grpo", groupBaseline{scaling: "dr_grpo", lossType: "dr_grpo"}),
		group("gspo", groupBaseline{scaling: "grpo", lossType: "grpo", gspo: true}),
		{"vineppo", func(*env) (algorithm, error) { return vinePPO{}, nil }},
		{"sirl", func(e *env) (algorithm, error) {
			s, err := e.newSIRL()
			if err != nil {
				return nil, err
			}
			return s, nil
		}},
	}
}

// algoNames lists the rl.algo values.
func algoNames() []string {
	var out []string
	for _, a := range algorithms() {
		out = append(out, a.name)
	}
	return out
}

// newAlgorithm starts the algorithm rl.algo names.
func (e *env) newAlgorithm() (algorithm, error) {
	for _, a := range algorithms() {
		if a.name == e.cfg.RL.Algo {
			return a.open(e)
		}
	}
	return nil, fmt.Errorf("config key rl.algo: unknown algorithm %q", e.cfg.RL.Algo)
}

// lossTypeOr is rl.loss_type when set, else an algorithm's own.
func lossTypeOr(c Config, own string) string {
	if c.RL.LossType != "" {
		return c.RL.LossType
	}
	return own
}

// aggMode maps an RL loss type to the supervise weight mode.
func aggMode(lossType string) string {
	switch lossType {
	case "dapo", "bnpo":
		return "token-mean"
	case "dr_grpo":
		return "seq-mean-token-sum-norm"
	}
	return "seq-mean-token-mean"
}
