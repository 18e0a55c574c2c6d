package train

import (
	"math/rand/v2"

	"github.com/sirl-dev/sirl/supervise"
)

// groupBaseline is the group-baseline family: GRPO, DAPO, Dr. GRPO and
// GSPO. Every response gets one advantage, its reward against its group's
// (METHOD.md §2.2); the members differ in the advantage's scaling (Dr. GRPO
// does not divide by the group's std), the aggregation, DAPO's dynamic
// sampling and GSPO's sequence-level ratio clip.
type groupBaseline struct {
	scaling  string // supervise.GroupAdvantages mode: grpo, dr_grpo
	lossType string // the default rl.loss_type
	gspo     bool   // sequence-level ratio and clip, token-mean-per-sequence aggregation
	dynamic  bool   // DAPO's dynamic sampling
}

func (a groupBaseline) build(e *env, _ *rand.Rand, gs []group, st *rlStep) error {
	st.seqs = a.seqs(e, gs, st)
	return e.normalise(st.seqs, a.aggregation(e.cfg), false)
}

// aggregation: GSPO averages tokens within a sequence, then sequences
// (whatever rl.loss_type says); the others follow their loss type (DAPO:
// one mean over all tokens).
func (a groupBaseline) aggregation(c Config) string {
	if a.gspo {
		return "seq-mean-token-mean"
	}
	return aggMode(lossTypeOr(c, a.lossType))
}

func (a groupBaseline) seqClip() bool                     { return a.gspo }
func (a groupBaseline) dynamicSampling() bool             { return a.dynamic }
func (a groupBaseline) saveState(map[string]string) error { return nil }

// seqs turns groups into policy sequences with one advantage per sequence.
func (a groupBaseline) seqs(e *env, gs []group, st *rlStep) []Seq {
	c := e.cfg.RL
	var seqs []Seq
	for _, g := range gs {
		adv, _ := supervise.GroupAdvantages(g.rewards, a.scaling, c.ScaleRewards, 1e-6)
		for i, s := range g.samples {
			if c.MaskTruncatedCompletions && s.Truncated {
				st.add("masked_truncated", 1)
				continue
			}
			resp := e.respTokens(s)
			adv1 := make([]float32, len(resp))
			for j := range adv1 {
				adv1[j] = float32(adv[i])
			}
			seqs = append(seqs, Seq{Context: g.prompt, Response: resp, Adv: adv1})
		}
	}
	return seqs
}
