package train

import "math/rand/v2"

// stage is what one training stage (SFT, RL) plugs into the stage loop.
type stage struct {
	name  string // "sft" or "rl": its RNG stream, metrics rows and hook
	label string // the progress bar's label
	steps int    // sft.steps / rl.steps
	optim OptimConfig
	// more reports whether another step may run (nil: until steps; RL:
	// while the token budget lasts).
	more func() bool
	// step runs one step up to and including the optimizer update and
	// returns its metrics row.
	step func(rng *rand.Rand, opt *Optimizer) (map[string]any, error)
	// record completes the row once the step is counted (evaluations,
	// cumulative counters) and reports whether the stage ends early.
	record func(row map[string]any) (stop bool, err error)
	// save adds the stage's own state (nil: none) to the run state that
	// the next checkpoint carries.
	save func() error
}

// runStage is the loop every training stage shares: the stage's RNG
// stream (restored on resume), the optimizer at its update count, the
// progress bar, cancellation (a checkpoint, then an error naming
// --resume), the step counter, one metrics row per step, the RNG and stage
// state saved after each step, the checkpoint cadence and the test hook.
// It returns the last step's row (nil when no step ran).
func (e *env) runStage(s stage) (map[string]any, error) {
	pcg, err := e.stageRNG(s.name)
	if err != nil {
		return nil, err
	}
	rng := rand.New(pcg)
	opt := &Optimizer{cfg: s.optim, total: s.steps, step: e.state.OptStep, grads: e.grads}
	e.m.EnsureTrainState() // gradients and AdamW moments (kept if resumed)
	bar := newProgress(e.log, s.steps, s.label)
	bar.Set(e.state.Step)
	var last map[string]any
	for e.state.Step < s.steps && (s.more == nil || s.more()) {
		if stop, err := e.cancelled(); err != nil {
			return nil, err
		} else if stop {
			return nil, e.interrupted()
		}
		row, err := s.step(rng, opt)
		if err != nil {
			return nil, err
		}
		e.state.Step++
		e.state.OptStep = opt.step
		stop, err := s.record(row)
		if err != nil {
			return nil, err
		}
		if err := e.metrics.Write(s.name, e.state.Step, row); err != nil {
			return nil, err
		}
		last = row
		if err := e.saveRNG(pcg); err != nil {
			return nil, err
		}
		if s.save != nil {
			if err := s.save(); err != nil {
				return nil, err
			}
		}
		bar.Set(e.state.Step)
		if e.cfg.CheckpointEvery > 0 && e.state.Step%e.cfg.CheckpointEvery == 0 {
			if err := e.saveCheckpoint(); err != nil {
				return nil, err
			}
		}
		if e.hook != nil {
			e.hook(s.name, e.state.Step)
		}
		if stop {
			break
		}
	}
	bar.Finish()
	return last, nil
}
