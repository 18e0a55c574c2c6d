package train

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/model"
)

// runRL is the RL stage: rollouts → rewards → the algorithm's batches →
// the clipped PG loss → AdamW, until rl.steps or rl.token_budget.
func (e *env) runRL() error {
	c := e.cfg.RL
	var ref *model.Model
	var err error
	if c.Beta > 0 {
		if ref, err = e.reference(); err != nil {
			return err
		}
	}
	alg, err := e.newAlgorithm()
	if err != nil {
		return err
	}
	if e.state.RL == (rlProgress{}) {
		// A checkpoint from before rlProgress kept these in the summary.
		e.state.RL.Decoded, _ = e.state.Summary.Float(KeyRLDecoded)
		done, _ := e.state.Summary.Float("rl.eval_points_done")
		e.state.RL.EvalPointsDone = int(done)
		delete(e.state.Summary, "rl.eval_points_done")
	}
	if _, ok := e.state.Summary["rl.start.eval.greedy_accuracy"]; !ok {
		if v, ok := e.state.Summary["sft."+KeyEvalGreedy]; ok {
			e.state.Summary["rl.start.eval.greedy_accuracy"] = v
		}
	}
	var st *rlStep
	var t0 time.Time
	step := func(rng *rand.Rand, opt *Optimizer) (map[string]any, error) {
		t0 = time.Now()
		st = &rlStep{counters: map[string]float64{}, phase: map[string]float64{}, seqClip: alg.seqClip()}
		if err := e.buildStep(rng, st, alg); err != nil {
			return nil, fmt.Errorf("rl step %d: %w", e.state.Step+1, err)
		}
		row := map[string]any{}
		if err := e.rlMetrics(st.groups, row); err != nil {
			return nil, err
		}
		if err := e.logSamples(e.state.Step+1, st.seqs); err != nil {
			return nil, err
		}
		t1 := time.Now()
		n := float64(len(st.seqs) + len(st.rep))
		if err := e.sumF64("batch size", &n); err != nil {
			return nil, err
		}
		if n > 0 {
			if err := e.update(st, opt, ref, row); err != nil {
				return nil, err
			}
		} else {
			row["skipped"] = 1
		}
		st.phase["training"] += time.Since(t1).Seconds()
		return row, nil
	}
	record := func(row map[string]any) (bool, error) {
		dec, pre := float64(st.decoded), float64(st.prefill)
		if err := e.sumF64("sampled tokens", &dec, &pre); err != nil {
			return false, err
		}
		st.decoded, st.prefill = int64(dec), int64(pre)
		if err := e.reduceCounters(st.counters); err != nil {
			return false, err
		}
		e.state.RL.Decoded += float64(st.decoded)
		e.addCumulative(KeyRLDecoded, float64(st.decoded))
		e.addCumulative(KeyRLPrefilled, float64(st.prefill))
		if v, ok := row[MetricTrained].(int); ok {
			e.addCumulative(KeyRLTrained, float64(v))
		}
		e.addCumulative(KeyRLLocalised, st.counters[MetricLocalised])
		e.addCumulative(KeyRLLocalisedCorrect, st.counters["sirl/localised_correct"])
		e.addCumulative(KeyRLAttempted, st.counters["sirl/failures_attempted"])
		e.addCumulative(KeyRLCorrected, st.counters["sirl/failures_corrected"])
		e.addCumulative("rl.corrections_wrong_steps", st.counters["sirl/corrections_wrong_steps"])
		dt := time.Since(t0).Seconds()
		row[MetricDecoded] = st.decoded
		row["tokens/prefilled"] = st.prefill
		row[MetricDecodedCumulative] = e.state.RL.Decoded
		row["tokens_per_second"] = float64(st.decoded) / dt
		row[MetricStepSeconds] = dt
		for k, v := range st.phase {
			row[MetricTimePrefix+k] = v
		}
		for k, v := range st.counters {
			row[k] = v
		}
		if e.evalPointDue() || (c.EvalEvery > 0 && e.state.Step%c.EvalEvery == 0) {
			r, err := e.evaluate(e.splits.HeldOut, 0, nil)
			if err != nil {
				return false, err
			}
			row[MetricGreedyAccuracy] = r.Greedy
			row[MetricStepAccuracy] = r.StepAccuracy
			e.logf("rl step %d: reward %.3f held-out greedy accuracy %.3f", e.state.Step, row[MetricReward], r.Greedy)
		}
		return false, nil
	}
	last, err := e.runStage(stage{name: "rl", label: "rl (" + c.Algo + ")", steps: c.Steps, optim: c.Optim,
		more: func() bool { return !e.budgetSpent() }, step: step, record: record,
		save: func() error {
			if err := alg.saveState(e.state.Extra); err != nil {
				return err
			}
			return e.gatherExtra("replay")
		}})
	if err != nil {
		return err
	}
	if last != nil {
		printRLTable(e.log, last)
	}
	e.state.Summary["rl.steps"] = e.state.Step
	return e.stageEval("rl")
}

// evalPointDue reports whether the cumulative sampled tokens crossed the
// next of rl.eval_points evenly spaced fractions of rl.token_budget (and
// marks it done).
func (e *env) evalPointDue() bool {
	c, p := e.cfg.RL, &e.state.RL
	if c.EvalPoints <= 0 || c.TokenBudget <= 0 {
		return false
	}
	due := false
	for p.EvalPointsDone < c.EvalPoints && p.Decoded >= float64(c.TokenBudget)*float64(p.EvalPointsDone+1)/float64(c.EvalPoints) {
		p.EvalPointsDone++
		due = true
	}
	return due
}

// budgetSpent reports whether rl.token_budget sampled tokens are used up.
func (e *env) budgetSpent() bool {
	b := e.cfg.RL.TokenBudget
	return b > 0 && e.state.RL.Decoded >= float64(b)
}

// addCumulative adds v to a running total of the summary.
func (e *env) addCumulative(key string, v float64) {
	old, _ := e.state.Summary[key].(float64)
	e.state.Summary[key] = old + v
}

// buildStep rolls out the step's groups and has the algorithm fill st.seqs
// (and st.rep).
func (e *env) buildStep(rng *rand.Rand, st *rlStep, alg algorithm) error {
	c := e.cfg.RL
	gs, err := e.rollGroups(rng, c.PromptsPerStep, st)
	if err != nil {
		return err
	}
	if c.DynamicSampling || alg.dynamicSampling() {
		// DAPO dynamic sampling: keep mixed groups; draw more prompts (up
		// to max_gen_batches generations) until the batch is full. The
		// first rl.prompts_per_step mixed groups in prompt order over all
		// ranks are kept.
		kept, nKept, err := e.keepMixed(gs, 0)
		if err != nil {
			return err
		}
		for b := 1; nKept < c.PromptsPerStep && b < c.MaxGenBatches; b++ {
			more, err := e.rollGroups(rng, c.PromptsPerStep, st)
			if err != nil {
				return err
			}
			gs = append(gs, more...)
			k, n, err := e.keepMixed(more, nKept)
			if err != nil {
				return err
			}
			kept, nKept = append(kept, k...), nKept+n
		}
		st.groups = gs
		gs = kept
	} else {
		st.groups = gs
	}
	if err := alg.build(e, e.algoRNG(rng), gs, st); err != nil {
		return err
	}
	if e.cfg.RL.Beta == 0 {
		st.seqs = dropZeroAdv(st.seqs)
	}
	return nil
}

// keepMixed returns this rank's groups of gs (its share of one generation
// batch) that dynamic sampling keeps when before mixed groups are kept
// already, and the number of mixed groups of the batch over all ranks
// (capped at what still fits in rl.prompts_per_step).
func (e *env) keepMixed(gs []group, before int) ([]group, int, error) {
	want := e.cfg.RL.PromptsPerStep
	flags := make([]float64, len(gs))
	for i, g := range gs {
		if _, std := meanStd(g.rewards); std > 0 {
			flags[i] = 1
		}
	}
	all := flags
	if !e.single() {
		var err error
		if all, err = dist.GatherF64(e.comm, want, flags); err != nil {
			return nil, 0, fmt.Errorf("dynamic sampling: %w", err)
		}
	}
	lo, _ := e.share(want)
	var kept []group
	n := before
	for i, f := range all {
		if f == 0 || n >= want {
			continue
		}
		if j := i - lo; j >= 0 && j < len(gs) {
			kept = append(kept, gs[j])
		}
		n++
	}
	return kept, n - before, nil
}

// dropZeroAdv removes sequences whose loss and gradient are exactly zero
// (all advantages or weights zero); their weights were already counted in
// the normalisers, so the loss is unchanged.
func dropZeroAdv(seqs []Seq) []Seq {
	out := seqs[:0]
	for _, s := range seqs {
		for j := range s.Adv {
			if s.Adv[j] != 0 && s.Weight[j] != 0 {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// referenceName is π_ref's file in the run folder (rl.beta > 0): written
// when the RL stage starts, read back when it resumes, so a resumed run
// keeps the KL anchor of the uninterrupted one.
const referenceName = "reference.safetensors"

// reference returns π_ref: a frozen copy of the weights at the start of the
// RL stage, or, when the stage resumes mid-way, the copy saved then.
func (e *env) reference() (*model.Model, error) {
	path := filepath.Join(e.out, referenceName)
	if e.state.Step > 0 {
		ref, _, err := model.LoadCheckpoint(e.be, path)
		if err != nil {
			return nil, fmt.Errorf("resume with rl.beta > 0 needs the reference policy %s: %w", path, err)
		}
		return ref, nil
	}
	ref, err := e.frozenCopy()
	if err != nil {
		return nil, err
	}
	if err := e.onRoot(func() error { return ref.SaveCheckpoint(path, e.checkpointMeta(), false) }); err != nil {
		return nil, fmt.Errorf("writing the reference policy: %w", err)
	}
	return ref, nil
}

// frozenCopy makes π_ref: a copy of the current weights (the Stage-0
// checkpoint when RL starts from it). It is never trained, so it has no
// gradients or moments.
func (e *env) frozenCopy() (*model.Model, error) {
	ref, err := model.New(e.be, e.m.Cfg, e.cfg.Seed)
	if err != nil {
		return nil, err
	}
	for _, p := range e.m.Params {
		e.be.Copy(ref.Param(p.Name).W, p.W)
	}
	return ref, e.be.Err()
}

// logpOf computes per-token log-probs of sequences without gradients.
func logpOf(m *model.Model, seqs []Seq) ([][]float32, error) {
	lo, err := forwardLoss(m, seqs, backend.PGLogProbOnly, [2]float32{}, 0, false, nil)
	m.B.ResetPool(backend.Activations)
	if err != nil {
		return nil, err
	}
	return lo.logp, nil
}

// printRLTable prints the last step's main metrics as a short table.
func printRLTable(w io.Writer, row map[string]any) {
	keys := []string{"reward", "reward_std", "frac_reward_zero_std", "entropy", "kl", "clip_ratio/low_mean",
		"clip_ratio/high_mean", "policy_loss", "grad_norm", "learning_rate", "completions/mean_length",
		"completions/max_length", "completions/clipped_ratio", "tokens/decoded", "tokens/trained",
		"tokens_per_second", "time/generation", "time/scoring", "time/identify_correct", "time/training",
		"sirl/repair_success_rate", "sirl/active_token_ratio"}
	fmt.Fprintln(w, "last RL step:")
	for _, k := range keys {
		if v, ok := row[k]; ok {
			fmt.Fprintf(w, "  %-28s %v\n", k, fmtVal(v))
		}
	}
}

func fmtVal(v any) string {
	switch x := v.(type) {
	case float64:
		return fmt.Sprintf("%.4g", x)
	case float32:
		return fmt.Sprintf("%.4g", x)
	}
	return fmt.Sprint(v)
}
