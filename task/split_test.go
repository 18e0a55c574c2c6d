package task

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSplits(t *testing.T) {
	for _, tc := range generated(t) {
		cfg := SplitConfig{Seed: 42, TrainMin: tc.lo, TrainMax: tc.lo + 1, HeldOut: 100, Hard: 50, HardMin: tc.hi, HardMax: tc.hi}
		if tc.task.Name() == "t2" {
			cfg.TrainMin, cfg.TrainMax = 2, 3 // one digit has only 100 prompts
		}
		s, err := NewSplits(tc.task, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.HeldOut) != cfg.HeldOut || len(s.Hard) != cfg.Hard {
			t.Fatalf("%s: %d held-out, %d hard", tc.task.Name(), len(s.HeldOut), len(s.Hard))
		}
		eval := map[string]bool{}
		for _, p := range append(append([]Problem(nil), s.HeldOut...), s.Hard...) {
			if eval[p.Prompt] {
				t.Fatalf("%s: duplicate evaluation prompt %q", tc.task.Name(), p.Prompt)
			}
			eval[p.Prompt] = true
		}
		for _, p := range s.HeldOut {
			if p.Difficulty < cfg.TrainMin || p.Difficulty > cfg.TrainMax {
				t.Fatalf("%s: held-out difficulty %d", tc.task.Name(), p.Difficulty)
			}
		}
		for _, p := range s.Hard {
			if p.Difficulty != tc.hi {
				t.Fatalf("%s: hard difficulty %d", tc.task.Name(), p.Difficulty)
			}
		}
		// Training draws never hit an evaluation prompt, although the
		// generator alone does (the train range is small).
		rng := rand.New(rand.NewPCG(1, 2))
		gen := rand.New(rand.NewPCG(1, 2))
		hits := 0
		for range 3000 {
			if p := s.SampleTrain(rng); eval[p.Prompt] {
				t.Fatalf("%s: training problem %q is held out", tc.task.Name(), p.Prompt)
			}
			if eval[tc.task.Generate(gen, cfg.TrainMin).Prompt] {
				hits++
			}
		}
		if tc.task.Name() == "t1" && hits == 0 {
			t.Error("t1: the raw generator never produced a held-out prompt; the test proves nothing")
		}
		// Same seed, same sets; another seed, other sets.
		again, _ := NewSplits(tc.task, cfg)
		for i := range s.HeldOut {
			if again.HeldOut[i].Prompt != s.HeldOut[i].Prompt {
				t.Fatalf("%s: held-out set not deterministic", tc.task.Name())
			}
		}
		for i := range s.Hard {
			if again.Hard[i].Prompt != s.Hard[i].Prompt {
				t.Fatalf("%s: hard set not deterministic", tc.task.Name())
			}
		}
		cfg.Seed++
		other, _ := NewSplits(tc.task, cfg)
		same := 0
		for i := range s.HeldOut {
			if other.HeldOut[i].Prompt == s.HeldOut[i].Prompt {
				same++
			}
		}
		if same == len(s.HeldOut) {
			t.Errorf("%s: seeds 42 and 43 give the same held-out set", tc.task.Name())
		}
	}
}

func TestSplitsErrors(t *testing.T) {
	t2 := NewT2()
	cases := []struct {
		name string
		cfg  SplitConfig
		want string
	}{
		{"negative", SplitConfig{TrainMin: 1, TrainMax: 2, HeldOut: -1}, "must be >= 0"},
		{"empty range", SplitConfig{TrainMin: 3, TrainMax: 2}, "range 3..2 is empty"},
		{"empty hard range", SplitConfig{TrainMin: 1, TrainMax: 2, Hard: 1, HardMin: 5, HardMax: 4}, "range 5..4"},
		{"too many", SplitConfig{TrainMin: 1, TrainMax: 1, HeldOut: 200}, "distinct held-out"},
		{"nothing left", SplitConfig{TrainMin: 1, TrainMax: 1, HeldOut: 100}, "held out"},
	}
	for _, c := range cases {
		_, err := NewSplits(t2, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestSplitsDataset(t *testing.T) {
	var train, test, hard []Problem
	for i := range 20 {
		p := Problem{Prompt: "p" + string(rune('a'+i)), Solution: "s;#1", Answer: "1"}
		train = append(train, p)
		if i < 5 {
			test = append(test, p) // overlaps train: must be excluded
		}
	}
	hard = append(hard, Problem{Prompt: "hard", Solution: "s;#1", Answer: "1"}, train[19])
	j, err := NewJSONLProblems(train, test, hard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSplits(j, SplitConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.HeldOut) != 5 || len(s.Hard) != 2 {
		t.Fatalf("%d held-out, %d hard", len(s.HeldOut), len(s.Hard))
	}
	rng := rand.New(rand.NewPCG(3, 3))
	seen := map[string]bool{}
	for range 1000 {
		p := s.SampleTrain(rng)
		if s.Excluded(p.Prompt) {
			t.Fatalf("training problem %q is held out", p.Prompt)
		}
		seen[p.Prompt] = true
	}
	if len(seen) != 14 {
		t.Errorf("drew %d distinct training problems, want 14", len(seen))
	}
	// Without a test set, HeldOut problems are carved out of train.
	j, _ = NewJSONLProblems(train, nil, nil)
	a, err := NewSplits(j, SplitConfig{Seed: 7, HeldOut: 4})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSplits(j, SplitConfig{Seed: 7, HeldOut: 4})
	if len(a.HeldOut) != 4 || a.HeldOut[0].Prompt != b.HeldOut[0].Prompt || len(a.train) != 16 {
		t.Errorf("carved held-out %d (train %d)", len(a.HeldOut), len(a.train))
	}
	if _, err := NewSplits(j, SplitConfig{HeldOut: 20}); err == nil {
		t.Error("carving every training problem succeeded")
	}
}
