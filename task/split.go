package task

import (
	"fmt"
	"math/rand/v2"
)

// Dataset is a task backed by fixed problem sets (the jsonl task). NewSplits
// takes its held-out and hard sets from the data instead of generating them.
type Dataset interface {
	TrainProblems() []Problem
	TestProblems() []Problem
	HardProblems() []Problem
}

// SplitConfig says how to split a task into training, held-out and hard
// problems.
type SplitConfig struct {
	// Seed fixes the held-out and hard sets.
	Seed uint64
	// TrainMin and TrainMax are the training difficulty range (inclusive);
	// held-out problems are drawn from it too.
	TrainMin, TrainMax int
	// HeldOut is the number of held-out problems (for a Dataset: at most
	// that many of its test problems, 0 for all of them).
	HeldOut int
	// Hard is the number of hard problems, drawn from HardMin..HardMax
	// (for a Dataset: at most that many of its hard problems, 0 for all).
	Hard             int
	HardMin, HardMax int
}

// Splits holds the evaluation sets of a task and samples training problems
// that never share a prompt with them. It is read-only after NewSplits and
// safe for concurrent use (each caller with its own rng).
type Splits struct {
	// Task is the task split.
	Task Task
	// Config is the configuration the splits were made with.
	Config SplitConfig
	// HeldOut are problems of the training difficulty range never trained on.
	HeldOut []Problem
	// Hard are harder problems (e.g. longer) never trained on.
	Hard []Problem

	exclude map[string]struct{} // prompts of HeldOut and Hard
	train   []Problem           // a Dataset's training problems minus exclude
}

// splitStream separates the split's random stream from others on the seed.
const splitStream = 0x5eed_5911

// NewSplits draws the held-out set and then the hard set, deterministically
// from cfg.Seed, with distinct prompts. It fails when a range is invalid or
// too small to hold the requested number of distinct problems, or when
// training draws would (almost) always hit an evaluation prompt.
func NewSplits(t Task, cfg SplitConfig) (*Splits, error) {
	if cfg.HeldOut < 0 || cfg.Hard < 0 {
		return nil, fmt.Errorf("split: held-out count %d and hard count %d must be >= 0", cfg.HeldOut, cfg.Hard)
	}
	s := &Splits{Task: t, Config: cfg, exclude: map[string]struct{}{}}
	rng := rand.New(rand.NewPCG(cfg.Seed, splitStream))
	if ds, ok := t.(Dataset); ok {
		return s, s.fromDataset(ds, rng)
	}
	if cfg.TrainMin > cfg.TrainMax {
		return nil, fmt.Errorf("split: train difficulty range %d..%d is empty", cfg.TrainMin, cfg.TrainMax)
	}
	if cfg.Hard > 0 && cfg.HardMin > cfg.HardMax {
		return nil, fmt.Errorf("split: hard difficulty range %d..%d is empty", cfg.HardMin, cfg.HardMax)
	}
	var err error
	if s.HeldOut, err = s.draw(rng, cfg.HeldOut, cfg.TrainMin, cfg.TrainMax, "held-out"); err != nil {
		return nil, err
	}
	if s.Hard, err = s.draw(rng, cfg.Hard, cfg.HardMin, cfg.HardMax, "hard"); err != nil {
		return nil, err
	}
	// Training must remain possible: at least one of 256 draws accepted.
	probe := rand.New(rand.NewPCG(cfg.Seed, splitStream+1))
	for range 256 {
		if !s.Excluded(t.Generate(probe, between(probe, cfg.TrainMin, cfg.TrainMax)).Prompt) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("split: task %s: almost every training problem of difficulty %d..%d is held out; lower the held-out count or widen the range",
		t.Name(), cfg.TrainMin, cfg.TrainMax)
}

// between is a uniform integer in lo..hi.
func between(rng *rand.Rand, lo, hi int) int { return lo + rng.IntN(hi-lo+1) }

// draw generates n problems with distinct prompts not yet excluded, and
// excludes them.
func (s *Splits) draw(rng *rand.Rand, n, lo, hi int, what string) ([]Problem, error) {
	var out []Problem
	for tries := 0; len(out) < n; tries++ {
		if tries >= 100*n+1000 {
			return nil, fmt.Errorf("split: task %s: only %d distinct %s problems of difficulty %d..%d found, %d asked",
				s.Task.Name(), len(out), what, lo, hi, n)
		}
		p := s.Task.Generate(rng, between(rng, lo, hi))
		if s.Excluded(p.Prompt) {
			continue
		}
		s.exclude[p.Prompt] = struct{}{}
		out = append(out, p)
	}
	return out, nil
}

// fromDataset takes the held-out and hard sets from the data: the test and
// hard problems, or, without test problems, HeldOut problems carved out of
// the training problems by a seeded shuffle.
func (s *Splits) fromDataset(ds Dataset, rng *rand.Rand) error {
	cut := func(ps []Problem, n int) []Problem {
		if n > 0 && n < len(ps) {
			return ps[:n]
		}
		return ps
	}
	train := ds.TrainProblems()
	if test := ds.TestProblems(); len(test) > 0 {
		s.HeldOut = cut(test, s.Config.HeldOut)
	} else if s.Config.HeldOut > 0 {
		if s.Config.HeldOut >= len(train) {
			return fmt.Errorf("split: task %s: held-out count %d leaves none of the %d training problems", s.Task.Name(), s.Config.HeldOut, len(train))
		}
		perm := rng.Perm(len(train))
		for _, i := range perm[:s.Config.HeldOut] {
			s.HeldOut = append(s.HeldOut, train[i])
		}
	}
	s.Hard = cut(ds.HardProblems(), s.Config.Hard)
	for _, set := range [][]Problem{s.HeldOut, s.Hard} {
		for _, p := range set {
			s.exclude[p.Prompt] = struct{}{}
		}
	}
	for _, p := range train {
		if !s.Excluded(p.Prompt) {
			s.train = append(s.train, p)
		}
	}
	if len(s.train) == 0 {
		return fmt.Errorf("split: task %s: every training problem's prompt is also a held-out or hard prompt", s.Task.Name())
	}
	return nil
}

// Excluded reports whether prompt belongs to the held-out or hard set.
func (s *Splits) Excluded(prompt string) bool {
	_, ok := s.exclude[prompt]
	return ok
}

// maxTrainTries bounds SampleTrain's rejection loop; NewSplits has checked
// that accepted draws are not rare, so reaching it means a broken task.
const maxTrainTries = 1 << 20

// SampleTrain draws a training problem (difficulty uniform in
// TrainMin..TrainMax; for a Dataset, uniform over its training problems)
// whose prompt is neither held-out nor hard.
func (s *Splits) SampleTrain(rng *rand.Rand) Problem {
	if s.train != nil {
		return s.train[rng.IntN(len(s.train))]
	}
	for range maxTrainTries {
		p := s.Task.Generate(rng, between(rng, s.Config.TrainMin, s.Config.TrainMax))
		if !s.Excluded(p.Prompt) {
			return p
		}
	}
	panic(fmt.Sprintf("task: split of %s: %d training draws in a row were held out", s.Task.Name(), maxTrainTries))
}
