package train

import (
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/supervise"
	"github.com/sirl-dev/sirl/task"
)

// repair is the default variant (METHOD.md §3.4 lines 8–19, §3.6.1): G_rep
// candidates from the repair mode for every failure (one batched
// generation), audit, minimal-edit selection, adaptive truncation, gates.
func (s *sirlState) repair(e *env, rng *rand.Rand, fails []*failure, st *rlStep) ([]supervise.Gated, []*failure, error) {
	if len(fails) == 0 {
		return nil, nil, nil
	}
	G := s.cfg.RepairCandidates
	maxNew := e.cfg.Task.MaxResponseLen
	var prompts [][]int32
	var unrepaired []*failure
	kept := fails[:0:0]
	for _, f := range fails {
		p := e.repairContext(f.g.prob, f.text, f.g.texts[f.anchor])
		if len(p)+maxNew > e.m.Cfg.MaxSeq {
			// The repair context does not fit the model: counted as unrepaired.
			st.add("sirl/repair_context_too_long", 1)
			unrepaired = append(unrepaired, f)
			continue
		}
		prompts = append(prompts, p)
		kept = append(kept, f)
	}
	fails = kept
	if len(fails) == 0 {
		return nil, unrepaired, nil
	}
	t0 := time.Now()
	sp := backend.SampleParams{Temperature: float32(s.cfg.RepairTemperature), TopK: e.cfg.RL.TopK, TopP: float32(e.cfg.RL.TopP)}
	cands, stats, err := e.gen.Generate(prompts, G, sp, maxNew, rng)
	e.be.ResetPool(backend.Activations)
	if err != nil {
		return nil, nil, err
	}
	st.addGen(stats)
	st.add("tokens/decoded_repair", float64(stats.Decoded))
	st.phase["repair_generation"] += time.Since(t0).Seconds()

	var pairs []supervise.Gated
	sumDist, nDist := 0.0, 0.0
	for k, f := range fails {
		cs := make([]supervise.Candidate, G)
		scripts := make([]supervise.EditScript, G)
		texts := make([]string, G)
		for j := 0; j < G; j++ {
			c := cands[k*G+j]
			yb := c.Tokens
			texts[j] = e.tok.Decode(yb)
			es := supervise.Diff(f.y, yb)
			scripts[j] = es
			h, rule := s.audit(e, f, yb, texts[j], es, c.Finished)
			if !h {
				st.add("sirl/audit_rejected/"+rule, 1)
				if rule == supervise.RuleForm {
					e.formOracleCheck(f.g.prob, texts[j], st)
				}
			}
			q := 0.0
			if c.Finished {
				q = e.task.Reward(f.g.prob, texts[j])
			}
			cs[j] = supervise.Candidate{Audit: h, Reward: q, Dist: es.NormDistance()}
			sumDist += es.NormDistance()
			nDist++
		}
		best, scores := supervise.SelectRepair(cs, supervise.SelectConfig{LambdaEdit: s.cfg.LambdaEdit})
		s.repairLoss(e, f, prompts[k], cands[k*G:(k+1)*G], scores, best, st)
		if best < 0 {
			unrepaired = append(unrepaired, f)
			continue
		}
		yb := cands[k*G+best].Tokens
		es := scripts[best]
		e.oracleCheck(f.g.prob, texts[best], st)
		kstar, err := s.truncate(e, f, yb, es, st)
		if err != nil {
			return nil, nil, err
		}
		fp, rp, err := s.pair(e, f, yb, es, kstar)
		if err != nil {
			return nil, nil, err
		}
		e.localise(f, fp.Gate, st)
		st.add("sirl/ops_total", float64(len(es.Ops)))
		st.add("sirl/kstar_sum", float64(kstar))
		pairs = append(pairs, fp, rp)
	}
	if nDist > 0 {
		st.counters["sirl/edit_distance_mean"] = sumDist / nDist
	}
	return pairs, unrepaired, nil
}

// audit is h of METHOD.md §3.6.1 (rules), or the oracle ablation.
func (s *sirlState) audit(e *env, f *failure, yb []int32, text string, es supervise.EditScript, finished bool) (bool, string) {
	if !finished {
		return false, "wellformed"
	}
	switch s.cfg.Audit {
	case "none":
		return true, ""
	case "oracle": // external process supervision: ablation only
		if e.task.FirstWrongStep(f.g.prob, text) == -1 {
			return true, ""
		}
		return false, "oracle"
	}
	in := supervise.AuditInput{
		Prompt: f.g.prob.Prompt, Failed: f.text, Repaired: text,
		FailedTokens: f.y, RepairedTokens: yb, Script: es,
		AnswerStartY: e.answerStart(f.y), AnswerStartYb: e.answerStart(yb),
		WellFormed: func(r string) bool { return e.task.WellFormed(f.g.prob, r) },
	}
	if fp, ok := e.task.(task.FromPrompter); ok && s.cfg.AuditFromPrompt {
		in.FromPrompt = func(_, r string) bool { return fp.FromPrompt(f.g.prob, r) }
	}
	if ck, ok := e.task.(task.CopyKeeper); ok && s.cfg.AuditFromPrompt {
		in.KeepsCopies = func(y, r string) bool { return ck.KeepsCopies(f.g.prob, y, r) }
	}
	if sc, ok := e.task.(task.StepChecker); ok {
		in.CheckSteps = func(r string) bool { return sc.CheckSteps(f.g.prob, r) }
	}
	if fc, ok := e.task.(task.FormChecker); ok && fc.FormCheck() {
		anchor := fc.Form(f.g.prob, f.g.texts[f.anchor])
		in.SameForm = func(r string) bool { return fc.Form(f.g.prob, r).Agrees(anchor) }
	}
	return supervise.Audit(in, supervise.AuditConfig{DeltaMax: s.cfg.DeltaMax, MaxLen: e.cfg.Task.MaxResponseLen})
}

// truncate is K* of §3.7: the graft ŷ^(k) is the repair prefix holding the
// first k counted ops followed by the policy's greedy continuation.
func (s *sirlState) truncate(e *env, f *failure, yb []int32, es supervise.EditScript, st *rlStep) (int, error) {
	if s.cfg.Truncation == "off" {
		return len(es.Ops), nil
	}
	verify := func(k int) (bool, error) {
		n := supervise.RepairPrefixLen(es.Ops, k, len(yb))
		ctx := append(e.policyContext(f.g.prob.Prompt), yb[:n]...)
		out, stats, err := e.gen.Generate([][]int32{ctx}, 1, backend.SampleParams{TopP: 1}, e.cfg.Task.MaxResponseLen-n, rand.New(rand.NewPCG(0, 0)))
		e.be.ResetPool(backend.Activations)
		if err != nil {
			return false, err
		}
		st.addGen(stats)
		st.add("tokens/decoded_verify", float64(stats.Decoded))
		if !out[0].Finished {
			return false, nil
		}
		full := append(append([]int32(nil), yb[:n]...), out[0].Tokens...)
		return e.task.Reward(f.g.prob, e.tok.Decode(full)) >= 1, nil
	}
	kstar, checks, err := supervise.Truncate(es.Ops, e.answerStart(f.y), e.answerStart(yb), s.cfg.K, verify)
	st.add("sirl/truncation_checks", float64(checks))
	return kstar, err
}

// pair gates the failure and its correction (or the oracle ablation).
func (s *sirlState) pair(e *env, f *failure, yb []int32, es supervise.EditScript, kstar int) (supervise.Gated, supervise.Gated, error) {
	gcfg := supervise.GateConfig{Scope: s.cfg.GateScope, StepOfY: e.stepOf(f.y), StepOfYb: e.stepOf(yb)}
	mean, std := supervise.GroupStats(f.g.rewards)
	acfg := supervise.AdvConfig{Scale: s.cfg.AdvScale, AlphaMinus: s.cfg.Alpha, AlphaPlus: s.cfg.Alpha,
		GroupMean: mean, GroupStd: std, Eps: 1e-6}
	if acfg.Scale == supervise.ScaleMC {
		acfg.Scale = supervise.ScalePair
	}
	fp, rp, err := supervise.BuildPair(f.g.prob.Prompt, f.y, yb, es, kstar, gcfg, acfg)
	if err != nil || s.cfg.Gates != "oracle" {
		return fp, rp, err
	}
	// Oracle gates (ablation, external supervision): the oracle's first
	// wrong step on y, the same step on ȳ.
	k := e.task.FirstWrongStep(f.g.prob, f.text)
	so, sb := e.stepOf(f.y), e.stepOf(yb)
	for t := range fp.Gate {
		fp.Gate[t], fp.Adv[t] = 0, 0
		if so(t) == k {
			fp.Gate[t], fp.Adv[t] = 1, float32(-s.cfg.Alpha)
		}
	}
	for t := range rp.Gate {
		rp.Gate[t], rp.Adv[t] = 0, 0
		if sb(t) == k {
			rp.Gate[t], rp.Adv[t] = 1, float32(s.cfg.Alpha)
		}
	}
	return fp, rp, nil
}

// repairLoss adds the repair group's sequences to J_rep (§3.10): GRPO on
// the scores over the candidates (skipped when all scores are equal), or
// SFT on the accepted repair.
func (s *sirlState) repairLoss(e *env, f *failure, ctx []int32, cands []rolloutSample, scores []float64, best int, st *rlStep) {
	if s.cfg.LambdaRep == 0 {
		return
	}
	if s.cfg.RepLoss == "sft" {
		if best >= 0 {
			resp := e.respTokens(cands[best])
			st.rep = append(st.rep, Seq{Context: ctx, Response: resp, Adv: ones(len(resp)), Weight: ones(len(resp))})
		}
		return
	}
	adv, err := supervise.GroupAdvantages(scores, "grpo", true, 1e-6)
	if err != nil {
		return
	}
	for j, c := range cands {
		if adv[j] == 0 {
			continue
		}
		resp := e.respTokens(c)
		a := make([]float32, len(resp))
		for t := range a {
			a[t] = float32(adv[j])
		}
		st.rep = append(st.rep, Seq{Context: ctx, Response: resp, Adv: a, Weight: ones(len(resp))})
	}
}

func ones(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}
