package train

import (
	"math/rand/v2"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/task"
)

// EvalResult holds held-out figures: greedy accuracy, and with k samples
// per problem avg@k (mean accuracy of the samples) and pass@k (any correct).
// StepAccuracy says where greedy chains break: the share of reference steps
// that greedy responses get right before their first wrong step (the
// task's oracle, task.Task.FirstWrongStep), 1 when every chain is right.
type EvalResult struct {
	N            int     `json:"n"`
	Greedy       float64 `json:"greedy_accuracy"`
	StepAccuracy float64 `json:"greedy_step_accuracy"`
	K            int     `json:"k,omitempty"`
	AvgK         float64 `json:"avg_at_k,omitempty"`
	PassK        float64 `json:"pass_at_k,omitempty"`
}

// evalChunk is how many prompts are decoded together.
const evalChunk = 256

// evaluate decodes every problem greedily (and k samples at the eval
// temperature when k > 0, drawn from rng) and scores them with the task's
// verifier. The result depends only on the weights, the problems, k and
// rng's state, so a checkpoint re-evaluates to the same figure. Each rank
// decodes its share of the problems (the samples' random streams drawn as
// one process draws them, train/dp.go) and the counts are summed.
func (e *env) evaluate(all []task.Problem, k int, rng *rand.Rand) (EvalResult, error) {
	r := EvalResult{N: len(all), K: k}
	if len(all) == 0 {
		return r, nil
	}
	first, last := e.share(len(all))
	probs := all[first:last]
	if k > 0 {
		rng = sampleStreams(rng, len(all), k, first, last)
	}
	maxNew := e.cfg.Task.MaxResponseLen
	correct, sampleCorrect, pass := 0.0, 0.0, 0.0
	stepsRight, steps := 0.0, 0.0
	for lo := 0; lo < len(probs); lo += evalChunk {
		hi := min(lo+evalChunk, len(probs))
		prompts := make([][]int32, 0, hi-lo)
		for _, p := range probs[lo:hi] {
			prompts = append(prompts, e.policyContext(p.Prompt))
		}
		greedy, _, err := e.gen.Generate(prompts, 1, backend.SampleParams{Temperature: 0, TopP: 1}, maxNew, rand.New(rand.NewPCG(0, 0)))
		e.be.ResetPool(backend.Activations)
		if err != nil {
			return r, err
		}
		for i, s := range greedy {
			ok, right, n := scoreGreedy(e.task, probs[lo+i], e.tok.Decode(s.Tokens))
			if ok {
				correct++
			}
			stepsRight += right
			steps += n
		}
		if k > 0 {
			sp := backend.SampleParams{Temperature: float32(e.cfg.Eval.Temperature), TopP: 1}
			samples, _, err := e.gen.Generate(prompts, k, sp, maxNew, rng)
			e.be.ResetPool(backend.Activations)
			if err != nil {
				return r, err
			}
			for i := range prompts {
				any := false
				for j := 0; j < k; j++ {
					if e.task.Reward(probs[lo+i], e.tok.Decode(samples[i*k+j].Tokens)) >= 1 {
						sampleCorrect++
						any = true
					}
				}
				if any {
					pass++
				}
			}
		}
	}
	if err := e.sumF64("evaluation counts", &correct, &sampleCorrect, &pass, &stepsRight, &steps); err != nil {
		return r, err
	}
	r.Greedy = correct / float64(len(all))
	if steps > 0 {
		r.StepAccuracy = stepsRight / steps
	}
	if k > 0 {
		r.AvgK = sampleCorrect / float64(len(all)*k)
		r.PassK = pass / float64(len(all))
	}
	return r, nil
}

// scoreGreedy scores one greedy response: whether it verifies, and how
// many of the reference's n steps it gets right before its first wrong
// step (the task's oracle).
func scoreGreedy(t task.Task, p task.Problem, text string) (ok bool, right, n float64) {
	n = float64(len(task.Steps(p.Solution)))
	if t.Reward(p, text) >= 1 {
		return true, n, n
	}
	if k := t.FirstWrongStep(p, text); k >= 0 {
		return false, min(float64(k), n), n
	}
	return false, n, n // every step right, the answer judged wrong
}

// runFinalEval is the eval stage: held-out and harder held-out splits.
func (e *env) runFinalEval() error {
	k := e.cfg.Eval.Samples
	rng := rand.New(rand.NewPCG(e.cfg.Seed, 0xE7A1))
	r, err := e.evaluate(e.splits.HeldOut, k, rng)
	if err != nil {
		return err
	}
	s := e.state.Summary
	s[KeyEvalGreedy] = r.Greedy
	s["eval.greedy_step_accuracy"] = r.StepAccuracy
	s["eval.n"] = r.N
	if k > 0 {
		s["eval.k"] = k
		s["eval.avg_at_k"] = r.AvgK
		s["eval.pass_at_k"] = r.PassK
	}
	e.logf("eval: held-out greedy accuracy %.3f, steps right before the first wrong one %.3f (n=%d)", r.Greedy, r.StepAccuracy, r.N)
	if e.cfg.Eval.Hard && len(e.splits.Hard) > 0 {
		h, err := e.evaluate(e.splits.Hard, k, rng)
		if err != nil {
			return err
		}
		s["eval.hard.greedy_accuracy"] = h.Greedy
		s["eval.hard.n"] = h.N
		if k > 0 {
			s["eval.hard.avg_at_k"] = h.AvgK
			s["eval.hard.pass_at_k"] = h.PassK
		}
		e.logf("eval: harder held-out greedy accuracy %.3f (n=%d)", h.Greedy, h.N)
	}
	return nil
}

// evaluateRepair measures the repair mode on the cold-start distribution:
// for each problem one step (never the answer span) is corrupted with the
// task's error injection, the repair mode decodes greedily from
// <rep> x <fail> y_err <ref> a <fix> (anchor a = the reference trace) and
// the repair counts when it verifies. It is a Stage-0 diagnostic of the
// repair cold start (METHOD.md §3.3); RL's repair success rate measures the
// repair mode on the policy's own failures instead. Problems whose trace
// has a single step or whose context does not fit are skipped; n counts
// the repairs attempted.
func (e *env) evaluateRepair(probs []task.Problem) (acc float64, n int, err error) {
	rng := rand.New(rand.NewPCG(e.cfg.Seed, 0x4E9A))
	maxNew := e.cfg.Task.MaxResponseLen
	var prompts [][]int32
	var kept []task.Problem
	for _, p := range probs {
		ctx, ok := e.injectedRepairContext(rng, p)
		if !ok || len(ctx)+maxNew > e.m.Cfg.MaxSeq {
			continue
		}
		prompts = append(prompts, ctx)
		kept = append(kept, p)
	}
	// Every rank built every repair prompt (one injection stream); each
	// decodes its share.
	first, last := e.share(len(prompts))
	correct := 0.0
	for lo := first; lo < last; lo += evalChunk {
		hi := min(lo+evalChunk, last)
		out, _, err := e.gen.Generate(prompts[lo:hi], 1, backend.SampleParams{Temperature: 0, TopP: 1}, maxNew, rand.New(rand.NewPCG(0, 0)))
		e.be.ResetPool(backend.Activations)
		if err != nil {
			return 0, 0, err
		}
		for i, s := range out {
			if s.Finished && e.task.Reward(kept[lo+i], e.tok.Decode(s.Tokens)) >= 1 {
				correct++
			}
		}
	}
	if err := e.sumF64("repair evaluation counts", &correct); err != nil {
		return 0, 0, err
	}
	if len(prompts) == 0 {
		return 0, 0, nil
	}
	return correct / float64(len(prompts)), len(prompts), nil
}
