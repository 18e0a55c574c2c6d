package train

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/task"
)

// sftSeq is a policy-mode training sequence for a problem's canonical trace.
func (e *env) sftSeq(p task.Problem) Seq {
	resp := append(e.tok.Encode(p.Solution), e.eos)
	return Seq{Context: e.policyContext(p.Prompt), Response: resp}
}

// injectedRepairContext is the repair-mode context of a cold-start pair:
// one step of p's trace (never the answer span) corrupted by the task's
// error injection as the failure, the correct trace as the anchor. ok is
// false when the trace has a single step or the injection fails.
func (e *env) injectedRepairContext(rng *rand.Rand, p task.Problem) ([]int32, bool) {
	steps := task.Steps(p.Solution)
	if len(steps) < 2 {
		return nil, false
	}
	k := rng.IntN(len(steps) - 1) // never the answer span itself
	bad, ok := e.task.InjectError(rng, p, k)
	if !ok || bad == p.Solution {
		return nil, false
	}
	return e.repairContext(p, bad, p.Solution), true
}

// repairSeq is a repair-mode sequence (METHOD.md §3.3): an error-injected
// trace as the failure, a correct anchor, and the correct trace as target.
func (e *env) repairSeq(rng *rand.Rand, p task.Problem) (Seq, bool) {
	ctx, ok := e.injectedRepairContext(rng, p)
	if !ok {
		return Seq{}, false
	}
	resp := append(e.tok.Encode(p.Solution), e.eos)
	if len(ctx)+len(resp) > e.m.Cfg.MaxSeq {
		return Seq{}, false // longer than the model's context: skip
	}
	return Seq{Context: ctx, Response: resp}, true
}

// runSFT is Stage 0: token NLL on correct traces (the PG loss op with
// A = 1, no ratio), optionally mixed with the repair cold start.
func (e *env) runSFT() error {
	c := e.cfg.SFT
	// The injected cold start draws its N_cold problems once, up front;
	// the failures cold start fills its pool as Stage 0 goes.
	var coldPool []task.Problem
	mode := c.ColdStart()
	fails := &failurePool{capacity: c.RepairPairs}
	if mode == ColdStartFailures {
		if err := e.restoreColdPool(fails); err != nil {
			return err
		}
	}
	if c.RepairPairs > 0 && mode == ColdStartInject {
		coldRng := rand.New(rand.NewPCG(e.cfg.Seed, 0xC01D))
		for len(coldPool) < c.RepairPairs {
			coldPool = append(coldPool, e.splits.SampleTrain(coldRng))
		}
	}
	var loss float64 // the last step's
	step := func(rng *rand.Rand, opt *Optimizer) (map[string]any, error) {
		t0 := time.Now()
		row := map[string]any{}
		if mode == ColdStartFailures && c.refreshDue(e.state.Step) {
			f, err := e.refreshFailures(fails, e.state.Step)
			if err != nil {
				return nil, err
			}
			row[MetricColdSampled], row[MetricColdFailed], row[MetricColdKept] = f.sampled, f.failed, f.kept
			row[MetricColdPool] = len(fails.pairs)
			e.addCumulative(KeySFTColdKept, f.kept)
			e.state.Summary[KeySFTColdPool] = len(fails.pairs)
			e.logf("sft step %d: %d of %d samples failed, %d failures added to the cold-start pool (%d pairs)",
				e.state.Step, int(f.failed), int(f.sampled), int(f.kept), len(fails.pairs))
		}
		seqs := make([]Seq, 0, c.BatchSize)
		nRep := 0
		if len(coldPool) > 0 || len(fails.pairs) > 0 {
			nRep = int(float64(c.BatchSize)*c.RepairRatio + 0.5)
		}
		for len(seqs) < c.BatchSize-nRep {
			seqs = append(seqs, e.sftSeq(e.splits.SampleTrain(rng)))
		}
		for len(seqs) < c.BatchSize {
			if len(fails.pairs) > 0 { // every pair fits the context (refreshFailures)
				seqs = append(seqs, e.failureSeq(fails, rng.IntN(len(fails.pairs))))
				continue
			}
			if s, ok := e.repairSeq(rng, coldPool[rng.IntN(len(coldPool))]); ok {
				seqs = append(seqs, s)
			}
		}
		// Every rank drew the whole batch; it trains its share, weighted
		// by the whole batch's tokens.
		total := 0
		for _, s := range seqs {
			total += len(s.Response)
		}
		lo, hi := e.share(len(seqs))
		f, err := sftStep(e.m, seqs[lo:hi], total, opt)
		if err == nil {
			err = e.sumF64("sft loss", &f.Loss)
		}
		var nf nonFiniteError
		if errors.As(err, &nf) {
			return nil, e.nonFinite("sft", nf.err)
		}
		if err != nil {
			return nil, fmt.Errorf("sft step %d: %w", e.state.Step+1, err)
		}
		loss = f.Loss
		dt := time.Since(t0).Seconds()
		row[MetricLoss], row["grad_norm"], row["learning_rate"] = f.Loss, f.GradNorm, f.LR
		row["num_tokens"], row["tokens_per_second"], row[MetricStepSeconds] = f.Tokens, float64(f.Tokens)/dt, dt
		return row, nil
	}
	record := func(row map[string]any) (bool, error) {
		reached := false
		if c.EvalEvery > 0 && e.state.Step%c.EvalEvery == 0 && e.state.Step < c.Steps {
			var err error
			if reached, err = e.sftEval(row, c.repairColdStart(), loss); err != nil {
				return false, err
			}
		}
		e.state.Summary["sft.loss"] = loss
		if reached {
			e.logf("sft step %d: target accuracy reached, Stage 0 ends", e.state.Step)
		}
		return reached, nil
	}
	save := func() error { return e.saveColdPool(fails) }
	if _, err := e.runStage(stage{name: "sft", label: "sft", steps: c.Steps, optim: c.Optim, step: step, record: record, save: save}); err != nil {
		return err
	}
	delete(e.state.Extra, extraColdPool) // Stage 0's alone
	return e.stageEval("sft")
}

// StepFigures are what one training step reports.
type StepFigures struct {
	Loss     float64 // the step's loss (SFT: mean NLL per response token)
	GradNorm float64 // before clipping
	LR       float64 // the learning rate used
	Tokens   int     // response tokens trained
	// HiddenDType is the dtype of the model's final hidden state.
	HiddenDType backend.DType
}

// nonFiniteError is an optimizer failure (a NaN/Inf gradient), told apart
// from a failure of the forward/backward pass.
type nonFiniteError struct{ err error }

func (e nonFiniteError) Error() string { return e.err.Error() }
func (e nonFiniteError) Unwrap() error { return e.err }

// SFTStep is one supervised step exactly as the SFT stage takes it: every
// response token weighted 1/(tokens in the batch), the gradients zeroed,
// forward, the fused NLL loss and backward over seqs as one batch, the
// optimizer update, and the activations pool reset. `train bench e2e`
// times this function.
func SFTStep(m *model.Model, seqs []Seq, opt *Optimizer) (StepFigures, error) {
	total := 0
	for _, s := range seqs {
		total += len(s.Response)
	}
	return sftStep(m, seqs, total, opt)
}

// sftStep is SFTStep over a rank's share of a batch of total response
// tokens: the loss and the gradients are the share's part of the batch's
// (summed across ranks by the caller and the optimizer).
func sftStep(m *model.Model, seqs []Seq, total int, opt *Optimizer) (StepFigures, error) {
	f := StepFigures{Tokens: total}
	for i := range seqs {
		w := make([]float32, len(seqs[i].Response))
		for j := range w {
			w[j] = 1 / float32(f.Tokens)
		}
		seqs[i].Weight = w
	}
	m.ZeroGrads()
	if len(seqs) > 0 { // a rank with no share still joins the update
		lo, err := forwardLoss(m, seqs, backend.PGNLL, [2]float32{}, 0, true, nil)
		if err != nil {
			m.B.ResetPool(backend.Activations)
			return f, err
		}
		f.Loss, f.HiddenDType = lo.loss, lo.hidden
	}
	var err error
	f.GradNorm, f.LR, err = opt.Apply(m)
	m.B.ResetPool(backend.Activations)
	if err != nil {
		return f, nonFiniteError{err}
	}
	return f, nil
}

// sftEval is Stage 0's periodic evaluation: held-out greedy accuracy, and
// the repair mode's accuracy on injected errors when the cold start runs.
// It reports whether the targets of sft.target_accuracy and
// sft.target_repair_accuracy are reached (false when no target is set).
func (e *env) sftEval(row map[string]any, repair bool, loss float64) (bool, error) {
	c := e.cfg.SFT
	r, err := e.evaluate(e.splits.HeldOut, 0, nil)
	if err != nil {
		return false, err
	}
	row[MetricGreedyAccuracy] = r.Greedy
	row[MetricStepAccuracy] = r.StepAccuracy
	e.logf("sft step %d: loss %.4f held-out greedy accuracy %.3f (steps %.3f)", e.state.Step, loss, r.Greedy, r.StepAccuracy)
	rep := -1.0
	if repair {
		acc, _, err := e.evaluateRepair(e.splits.HeldOut)
		if err != nil {
			return false, err
		}
		rep = acc
		row[MetricRepairAccuracy] = acc
		e.logf("sft step %d: repair mode greedy accuracy %.3f", e.state.Step, acc)
	}
	return targetsReached(c, r.Greedy, rep), nil
}

// targetsReached: every target that is set (> 0) is met. repair < 0 means
// the repair mode was not evaluated. No target set → false (run all steps).
func targetsReached(c SFTConfig, policy, repair float64) bool {
	if c.TargetAccuracy <= 0 && c.TargetRepairAccuracy <= 0 {
		return false
	}
	if c.TargetAccuracy > 0 && policy < c.TargetAccuracy {
		return false
	}
	return c.TargetRepairAccuracy <= 0 || repair >= c.TargetRepairAccuracy
}

// saveRNG records the stage RNG state in the run state (checkpointed).
func (e *env) saveRNG(p *rand.PCG) error {
	b, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	e.state.RNG = b
	return nil
}

// stageEval evaluates at the end of a stage and records
// <stage>.eval.greedy_accuracy (and the rest) in the summary.
func (e *env) stageEval(stage string) error {
	r, err := e.evaluate(e.splits.HeldOut, 0, nil)
	if err != nil {
		return err
	}
	e.state.Summary[stage+"."+KeyEvalGreedy] = r.Greedy
	if stage == "sft" {
		e.state.Summary[KeySFTStepsRun] = e.state.Step
	}
	if stage == "sft" && e.cfg.SFT.repairColdStart() {
		acc, n, err := e.evaluateRepair(e.splits.HeldOut)
		if err != nil {
			return err
		}
		e.state.Summary[KeySFTRepairAccuracy] = acc
		e.logf("sft done: repair mode greedy accuracy on injected errors %.3f (n=%d)", acc, n)
	}
	// The latest held-out figure; the eval stage overwrites it.
	e.state.Summary[KeyEvalGreedy] = r.Greedy
	e.logf("%s done: held-out greedy accuracy %.3f", stage, r.Greedy)
	return nil
}

// interrupted writes a checkpoint and returns the error that stops the run.
func (e *env) interrupted() error {
	if err := e.saveCheckpoint(); err != nil {
		return fmt.Errorf("interrupted; writing the checkpoint failed: %w", err)
	}
	return fmt.Errorf("interrupted at %s step %d; checkpoint written: resume with --resume %s", e.state.Stage, e.state.Step, e.out)
}

// nonFinite stops the run on a NaN/Inf, naming the step, the tensor and the
// last good checkpoint.
func (e *env) nonFinite(stage string, err error) error {
	return fmt.Errorf("%s step %d: %w; last good checkpoint: %s/%s", stage, e.state.Step+1, err, e.out, checkpointName)
}

func (e *env) logf(format string, a ...any) {
	fmt.Fprintf(e.log, format+"\n", a...)
}
