package train

import (
	"encoding"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/supervise"
	"github.com/sirl-dev/sirl/task"
)

// sirlState is SIRL's per-run state: its config and the replay pool.
type sirlState struct {
	cfg  SIRLConfig
	pool *supervise.Pool
	step int
}

// newSIRL starts SIRL (rl.algo sirl); it restores the replay pool from a
// checkpoint when resuming.
func (e *env) newSIRL() (*sirlState, error) {
	s := &sirlState{cfg: e.cfg.SIRL}
	if s.cfg.Replay {
		p, err := supervise.NewPool(s.cfg.ReplayCapacity, s.cfg.ReplayMaxAge)
		if err != nil {
			return nil, err
		}
		// Each rank keeps its own pool; the checkpoint carries every
		// rank's (gatherExtra). A rank the checkpoint's run did not have
		// starts with an empty pool.
		if snap := e.state.Extra[rankKey("replay", e.rank())]; snap != "" {
			raw, err := base64.StdEncoding.DecodeString(snap)
			if err == nil {
				err = p.UnmarshalBinary(raw)
			}
			if err != nil {
				return nil, fmt.Errorf("checkpoint: bad replay pool: %w", err)
			}
		}
		s.pool = p
	}
	return s, nil
}

// snapshot serialises the replay pool for the checkpoint ("" without one).
func (s *sirlState) snapshot() (string, error) {
	if s == nil || s.pool == nil {
		return "", nil
	}
	return encodeReplay(s.pool)
}

// saveState records the replay pool under "replay" ("" without a pool).
func (s *sirlState) saveState(extra map[string]string) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	extra["replay"] = snap
	return nil
}

// encodeReplay is the checkpoint form of a replay pool: base64 of its
// binary form. A pool that cannot be serialised is an error, since a
// checkpoint without it would not resume exactly.
func encodeReplay(p encoding.BinaryMarshaler) (string, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("checkpoint: replay pool: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// failure is one failed sample chosen for identification and correction.
type failure struct {
	g      *group
	i      int     // sample index in the group
	y      []int32 // response tokens (no EOS)
	text   string
	anchor int // index of the chosen correct sibling
}

// aggregation of the gated policy batch is sirl.gate_norm (the repair
// batch: a token mean).
func (s *sirlState) aggregation(Config) string { return s.cfg.GateNorm }

// seqClip: sirl.loss gated_gspo clips sequence ratios as GSPO does.
func (s *sirlState) seqClip() bool         { return s.cfg.Loss == "gated_gspo" }
func (s *sirlState) dynamicSampling() bool { return false }

// build times buildBatches as the step's identify_correct phase.
func (s *sirlState) build(e *env, rng *rand.Rand, gs []group, st *rlStep) error {
	t0 := time.Now()
	err := s.buildBatches(e, rng, gs, st)
	st.phase["identify_correct"] += time.Since(t0).Seconds()
	return err
}

// buildBatches is lines 4–22 of METHOD.md §3.4: split groups into correct
// and failed samples, identify and correct failures with the configured
// variant, and lay out the gated policy batch (and the repair batch).
func (s *sirlState) buildBatches(e *env, rng *rand.Rand, gs []group, st *rlStep) error {
	s.step = e.state.Step
	var fails []*failure
	var extra []Seq // include_correct / fallback GRPO sequences
	for gi := range gs {
		g := &gs[gi]
		var C, F []int
		for i, r := range g.rewards {
			switch {
			case r >= s.cfg.RewardThreshold:
				C = append(C, i)
			case e.cfg.RL.MaskTruncatedCompletions && g.samples[i].Truncated:
			default:
				F = append(F, i)
			}
		}
		if s.cfg.IncludeCorrect == "grpo" {
			extra = append(extra, e.grpoSeqs(g, C)...)
		}
		C = s.auditedAnchors(e, g, C, st)
		if len(C) == 0 || len(F) == 0 {
			st.add("sirl/groups_without_pair", 1)
			continue
		}
		rng.Shuffle(len(F), func(a, b int) { F[a], F[b] = F[b], F[a] })
		if len(F) > s.cfg.MaxRepairsPerPrompt {
			if s.cfg.Fallback == "grpo" {
				extra = append(extra, e.grpoSeqs(g, F[s.cfg.MaxRepairsPerPrompt:])...)
			}
			F = F[:s.cfg.MaxRepairsPerPrompt]
		}
		correct := make([][]int32, len(C))
		for k, c := range C {
			correct[k] = g.samples[c].Tokens
		}
		for _, i := range F {
			f := &failure{g: g, i: i, y: g.samples[i].Tokens, text: g.texts[i]}
			f.anchor = C[supervise.ChooseAnchor(f.y, correct, rng)]
			fails = append(fails, f)
		}
	}
	st.add("sirl/failures_attempted", float64(len(fails)))
	var pairs []supervise.Gated
	var unrepaired []*failure
	var err error
	switch s.cfg.Identify {
	case "repair":
		pairs, unrepaired, err = s.repair(e, rng, fails, st)
	case "mc":
		pairs, unrepaired, err = s.mc(e, rng, fails, st)
	default:
		pairs, unrepaired, err = s.sibling(e, fails, st)
	}
	if err != nil {
		return err
	}
	st.add("sirl/failures_corrected", float64(len(fails)-len(unrepaired)))
	if len(fails) > 0 {
		st.counters["sirl/repair_success_rate"] = float64(len(fails)-len(unrepaired)) / float64(len(fails))
	}
	if s.cfg.Fallback == "grpo" {
		for _, f := range unrepaired {
			extra = append(extra, e.grpoSeqs(f.g, []int{f.i})...)
		}
	}
	seqs := make([]Seq, 0, len(pairs)+len(extra))
	active, total := 0.0, 0.0
	for _, p := range pairs {
		sq := e.gatedSeq(p)
		for _, g := range p.Gate {
			active += float64(g)
		}
		total += float64(len(p.Tokens))
		seqs = append(seqs, sq)
	}
	if total > 0 {
		st.counters["sirl/active_token_ratio"] = active / total
	}
	if s.pool != nil {
		if err := s.replay(e, pairs, &seqs, st); err != nil {
			return err
		}
	}
	seqs = append(seqs, extra...)
	if err := e.normalise(seqs, s.aggregation(e.cfg), true); err != nil {
		return err
	}
	st.seqs = seqs
	// Every rank normalises its repair batch, empty or not: the totals
	// are summed across ranks.
	return e.normalise(st.rep, "token-mean", false)
}

// gatedSeq turns a gated trajectory into a policy-mode sequence; the EOS
// that ended it is appended ungated. Weight holds the gate until
// normalisation replaces it with the loss weights.
func (e *env) gatedSeq(p supervise.Gated) Seq {
	resp := append(append([]int32(nil), p.Tokens...), e.eos)
	adv := append(append([]float32(nil), p.Adv...), 0)
	gate := append(append([]float32(nil), p.Gate...), 0)
	return Seq{Context: e.policyContext(p.Prompt), Response: resp, Adv: adv, Weight: gate}
}

// grpoSeqs are GRPO-advantage sequences on all tokens for the listed
// samples of a group (include_correct: grpo, fallback: grpo).
func (e *env) grpoSeqs(g *group, idx []int) []Seq {
	adv, _ := supervise.GroupAdvantages(g.rewards, "grpo", true, 1e-6)
	var out []Seq
	for _, i := range idx {
		if adv[i] == 0 {
			continue
		}
		resp := e.respTokens(g.samples[i])
		a := make([]float32, len(resp))
		w := make([]float32, len(resp))
		for j := range a {
			a[j], w[j] = float32(adv[i]), 1
		}
		out = append(out, Seq{Context: g.prompt, Response: resp, Adv: a, Weight: w})
	}
	return out
}

// stepOf maps each token of a response to its 0-based step (the number of
// steps ended before it, see steps.go); the answer span is the last step.
func (e *env) stepOf(y []int32) func(int) int {
	l := e.layoutOf(y)
	steps, k := l.step, l.end
	return func(t int) int {
		if t < 0 {
			return 0
		}
		if t >= len(steps) {
			return k
		}
		return steps[t]
	}
}

// answerStart is the token index where the answer span starts (the last
// '#' of a built-in task, the final \boxed of a math response), or len(y).
func (e *env) answerStart(y []int32) int {
	return e.layoutOf(y).answer
}

// auditedAnchors keeps the correct samples that pass the audit's
// label-free checks of a single response: rule 4 (foreign_symbols: operands
// copied from the prompt) when the task has it and sirl.audit_from_prompt is
// on, and the user's step checker (step_check) when the task has one. An
// anchor is what the repair mode copies from and, in the sibling variant,
// the positive side of the pair itself; a correct answer reached through
// miscopied operands or arithmetic that does not hold (a lucky chain) would
// otherwise be reinforced exactly at the wrong tokens. With the user's form
// check (task.step_check: form) the survivors must then agree on one form
// (task.FormMajority): the minority forms and every form of a tie are
// rejected too (also counted in sirl/anchors_rejected_form), and a lone
// survivor, which nothing can be compared with, is kept and counted in
// sirl/anchors_form_unchecked.
func (s *sirlState) auditedAnchors(e *env, g *group, C []int, st *rlStep) []int {
	if s.cfg.Audit != "rules" {
		return C
	}
	fp, hasFP := e.task.(task.FromPrompter)
	hasFP = hasFP && s.cfg.AuditFromPrompt
	sc, hasSC := e.task.(task.StepChecker)
	fc, hasFC := e.task.(task.FormChecker)
	hasFC = hasFC && fc.FormCheck()
	if !hasFP && !hasSC && !hasFC {
		return C
	}
	kept := C[:0:0]
	for _, c := range C {
		if (!hasFP || fp.FromPrompt(g.prob, g.texts[c])) && (!hasSC || sc.CheckSteps(g.prob, g.texts[c])) {
			kept = append(kept, c)
		}
	}
	if hasFC && len(kept) > 0 {
		forms := make([]task.Form, len(kept))
		for k, c := range kept {
			forms[k] = fc.Form(g.prob, g.texts[c])
		}
		keep := task.FormMajority(len(kept), func(a, b int) bool { return forms[a].Agrees(forms[b]) })
		agreed := kept[:0:0]
		for k, c := range kept {
			if keep[k] {
				agreed = append(agreed, c)
			}
		}
		st.add("sirl/anchors_rejected_form", float64(len(kept)-len(agreed)))
		if len(kept) == 1 {
			st.add("sirl/anchors_form_unchecked", 1)
		}
		kept = agreed
	}
	st.add("sirl/anchors_rejected", float64(len(C)-len(kept)))
	return kept
}

// oracleCheck counts an accepted correction whose steps the task's oracle
// finds wrong although its answer verifies: outcome-reward hacking that the
// positive side of the pair would then reinforce (METHOD.md §4.2, item 6;
// evaluation only, never used for training).
func (e *env) oracleCheck(p taskProblem, text string, st *rlStep) {
	if e.task.FirstWrongStep(p, text) >= 0 {
		st.add("sirl/corrections_wrong_steps", 1)
	}
}

// formOracleCheck counts a repair candidate the form rule rejected although
// the task's oracle finds its steps right: the anchor's form was not the
// reference's (a lone anchor the form check could not compare), or the
// data has more than one form per problem (evaluation only, never used for
// training).
func (e *env) formOracleCheck(p taskProblem, text string, st *rlStep) {
	if e.task.FirstWrongStep(p, text) == -1 {
		st.add("sirl/form_rejected_oracle_right", 1)
	}
}

// localise records whether the first gated step of the failed side equals
// the oracle's first wrong step (evaluation only: never used for training).
func (e *env) localise(f *failure, gate []float32, st *rlStep) {
	oracle := e.task.FirstWrongStep(f.g.prob, f.text)
	if oracle < 0 {
		return
	}
	stepOf := e.stepOf(f.y)
	first := -1
	for t, g := range gate {
		if g != 0 {
			first = stepOf(t)
			break
		}
	}
	if first < 0 {
		// Gated only at the insertion point past the end: the last step.
		first = stepOf(len(f.y))
	}
	st.add(MetricLocalised, 1)
	if first == oracle {
		st.add("sirl/localised_correct", 1)
	}
	st.add("sirl/first_error_step_sum", float64(first))
}
