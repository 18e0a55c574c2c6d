package train

import (
	"math/rand/v2"

	"github.com/sirl-dev/sirl/supervise"
)

// sibling is the zero-sampling variant (§3.5.3): the correction is the
// max-LCP correct sibling itself; the gates cover its first K ops (no
// verification, since that would cost sampling).
func (s *sirlState) sibling(e *env, fails []*failure, st *rlStep) ([]supervise.Gated, []*failure, error) {
	var pairs []supervise.Gated
	for _, f := range fails {
		yb := f.g.samples[f.anchor].Tokens
		es := supervise.Diff(f.y, yb)
		kstar := len(es.Ops)
		if s.cfg.Truncation != "off" {
			if c := supervise.CountedOps(es.Ops, e.answerStart(f.y), e.answerStart(yb)); c > s.cfg.K {
				kstar = s.cfg.K
			}
		}
		fp, rp, err := s.pair(e, f, yb, es, kstar)
		if err != nil {
			return nil, nil, err
		}
		e.localise(f, fp.Gate, st)
		e.oracleCheck(f.g.prob, f.g.texts[f.anchor], st)
		st.add("sirl/ops_total", float64(len(es.Ops)))
		st.add("sirl/kstar_sum", float64(kstar))
		pairs = append(pairs, fp, rp)
	}
	return pairs, nil, nil
}

// mc is the Monte-Carlo variant (§3.5.2, §3.6.2, adv_scale mc): bisection
// over step prefixes with M continuations per probe; the continuations at
// s_{e−1} form a counterfactual group against the failure's step e.
func (s *sirlState) mc(e *env, rng *rand.Rand, fails []*failure, st *rlStep) ([]supervise.Gated, []*failure, error) {
	M := s.cfg.MCRollouts
	var pairs []supervise.Gated
	var unrepaired []*failure
	for _, f := range fails {
		stepOf := e.stepOf(f.y)
		starts := e.stepStarts(f.y)
		S := len(starts) // steps before the answer span, plus the answer
		v0, _ := supervise.GroupStats(f.g.rewards)
		probe := func(k int) (float64, []supervise.Continuation, error) {
			b := len(f.y)
			if k < len(starts) {
				b = starts[k]
			}
			ctx := append(e.policyContext(f.g.prob.Prompt), f.y[:b]...)
			vals, conts, err := e.mcValues(rng, []taskProblem{f.g.prob}, [][]int32{ctx}, [][]int32{f.y[:b]}, M, st, "mc")
			if err != nil {
				return 0, nil, err
			}
			out := make([]supervise.Continuation, 0, len(conts[0]))
			for _, c := range conts[0] {
				if !c.finished {
					continue
				}
				out = append(out, supervise.Continuation{Tokens: c.tokens[b:], Reward: c.reward})
			}
			return vals[0], out, nil
		}
		res, err := supervise.Bisect(S, v0, probe, supervise.BisectConfig{})
		if err != nil {
			return nil, nil, err
		}
		st.add("sirl/mc_probes", float64(res.Probes))
		conts := res.Conts
		if res.E == 1 && len(conts) == 0 {
			// s_0's samples are the group itself: the best-LCP correct
			// sibling is the correction.
			conts = []supervise.Continuation{{Tokens: f.g.samples[f.anchor].Tokens, Reward: 1}}
		}
		hasSuccess := false
		for _, c := range conts {
			if c.Reward >= s.cfg.RewardThreshold {
				hasSuccess = true
			}
		}
		if !hasSuccess {
			unrepaired = append(unrepaired, f)
			continue
		}
		gated, err := supervise.MCGated(f.g.prob.Prompt, f.y, stepOf, res.E, res.VPrev, conts)
		if err != nil {
			return nil, nil, err
		}
		e.localise(f, gated[0].Gate, st)
		pairs = append(pairs, gated...)
	}
	return pairs, unrepaired, nil
}

// replay pushes this step's repaired trajectories into the pool (with
// their behaviour log-probs in policy mode) and adds ⌊φ·|B_pol|⌋ replayed
// entries, weighted by the truncated IS ratio min(C, π_old/π_beh) (§3.11).
func (s *sirlState) replay(e *env, pairs []supervise.Gated, seqs *[]Seq, st *rlStep) error {
	s.pool.Evict(s.step)
	exclude := map[string]bool{}
	var pos []Seq
	var posIdx []int
	for i, p := range pairs {
		exclude[p.Prompt] = true
		if p.Source == supervise.SourceRepaired || p.Source == supervise.SourceMCCont {
			pos = append(pos, (*seqs)[i])
			posIdx = append(posIdx, i)
		}
	}
	n := int(s.cfg.ReplayFraction * float64(len(*seqs)))
	drawn := s.pool.Sample(n, s.step, exclude)
	if len(pos) > 0 {
		lp, err := e.chunkedLogp(e.m, pos)
		if err != nil {
			return err
		}
		for k, i := range posIdx {
			p := pairs[i]
			if err := s.pool.Push(supervise.Entry{Prompt: p.Prompt, Tokens: p.Tokens, Gate: p.Gate, Adv: p.Adv,
				BehLogp: lp[k][:len(p.Tokens)], Step: s.step, Source: p.Source}); err != nil {
				return err
			}
		}
	}
	if len(drawn) == 0 {
		return nil
	}
	rs := make([]Seq, len(drawn))
	for i, d := range drawn {
		rs[i] = e.gatedSeq(supervise.Gated{Prompt: d.Prompt, Tokens: d.Tokens, Gate: d.Gate, Adv: d.Adv, Source: supervise.SourceReplay})
	}
	old, err := e.chunkedLogp(e.m, rs)
	if err != nil {
		return err
	}
	for i, d := range drawn {
		w := supervise.ISWeight(old[i][:len(d.Tokens)], d.BehLogp, s.cfg.ISCap)
		rs[i].IS = append(w, 1) // the ungated EOS keeps weight 1
	}
	st.counters["sirl/replay_pool_size"] = float64(s.pool.Len())
	st.counters["sirl/replayed"] = float64(len(rs))
	*seqs = append(*seqs, rs...)
	return nil
}
