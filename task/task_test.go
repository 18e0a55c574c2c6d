package task

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// generated are the generator-backed tasks with a difficulty range to test.
func generated(t *testing.T) []struct {
	task   Task
	lo, hi int
} {
	t1, err := NewT1(0)
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		task   Task
		lo, hi int
	}{{t1, 1, 8}, {NewT2(), 1, 12}, {NewT4(), 1, 12}, {NewT7(), 2, 6}}
}

// onPath reports whether an injected error at step k must change the answer.
func onPath(tk Task, p Problem, k int) bool {
	if t4, ok := tk.(*T4); ok {
		return t4.OnPath(p)[k]
	}
	return true
}

func TestCanonicalSolutions(t *testing.T) {
	for _, tc := range generated(t) {
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range 300 {
			d := tc.lo + i%(tc.hi-tc.lo+1)
			p := tc.task.Generate(rng, d)
			name := tc.task.Name() + " " + p.Prompt
			if p.Difficulty != d {
				t.Fatalf("%s: Difficulty %d, want %d", name, p.Difficulty, d)
			}
			if got, _ := ExtractAnswer(p.Solution); got != p.Answer {
				t.Fatalf("%s: solution %q answer %q, Answer %q", name, p.Solution, got, p.Answer)
			}
			if r := tc.task.Reward(p, p.Solution); r != 1 {
				t.Fatalf("%s: Reward(solution %q) = %v", name, p.Solution, r)
			}
			if !tc.task.WellFormed(p, p.Solution) {
				t.Fatalf("%s: solution %q not well formed", name, p.Solution)
			}
			if k := tc.task.FirstWrongStep(p, p.Solution); k != -1 {
				t.Fatalf("%s: FirstWrongStep(solution %q) = %d", name, p.Solution, k)
			}
			// The same problem without Data (as after a JSON round trip)
			// is parsed back from its prompt and judged the same.
			bare := Problem{Prompt: p.Prompt, Solution: p.Solution, Answer: p.Answer}
			if tc.task.Reward(bare, p.Solution) != 1 || tc.task.FirstWrongStep(bare, p.Solution) != -1 {
				t.Fatalf("%s: prompt does not parse back to the same problem", name)
			}
		}
	}
}

func TestInjectError(t *testing.T) {
	for _, tc := range generated(t) {
		rng := rand.New(rand.NewPCG(2, 2))
		offPath := 0
		for i := range 200 {
			p := tc.task.Generate(rng, tc.lo+i%(tc.hi-tc.lo+1))
			n := len(BodySteps(p.Solution))
			for k := range n {
				bad, ok := tc.task.InjectError(rng, p, k)
				name := tc.task.Name() + " " + p.Prompt
				if !ok {
					t.Fatalf("%s: InjectError(k=%d) failed", name, k)
				}
				if bad == p.Solution {
					t.Fatalf("%s: InjectError(k=%d) returned the solution", name, k)
				}
				if !tc.task.WellFormed(p, bad) {
					t.Fatalf("%s: InjectError(k=%d) = %q not well formed", name, k, bad)
				}
				if got := len(BodySteps(bad)); got != n {
					t.Fatalf("%s: InjectError(k=%d) = %q has %d steps, want %d", name, k, bad, got, n)
				}
				if prefix := strings.Join(BodySteps(bad)[:k], ";"); prefix != strings.Join(BodySteps(p.Solution)[:k], ";") {
					t.Fatalf("%s: InjectError(k=%d) = %q changed earlier steps", name, k, bad)
				}
				if f := tc.task.FirstWrongStep(p, bad); f != k {
					t.Fatalf("%s: FirstWrongStep(InjectError(k=%d) = %q) = %d", name, k, bad, f)
				}
				wantReward := 0.0
				if !onPath(tc.task, p, k) {
					wantReward = 1
					offPath++
				}
				if r := tc.task.Reward(p, bad); r != wantReward {
					t.Fatalf("%s: Reward(InjectError(k=%d) = %q) = %v, want %v", name, k, bad, r, wantReward)
				}
			}
			for _, k := range []int{-1, n} {
				if _, ok := tc.task.InjectError(rng, p, k); ok {
					t.Fatalf("%s: InjectError(k=%d) out of range succeeded", tc.task.Name(), k)
				}
			}
		}
		if tc.task.Name() == "t4" && offPath == 0 {
			t.Error("t4: no off-path line was ever corrupted")
		}
	}
}

func TestVerifierRejects(t *testing.T) {
	for _, tc := range generated(t) {
		rng := rand.New(rand.NewPCG(3, 3))
		p := tc.task.Generate(rng, tc.hi)
		sol := p.Solution
		steps := BodySteps(sol)
		cases := []struct {
			name     string
			response string
			reward   float64
			wf       bool
			first    int
		}{
			{"empty", "", 0, false, 0},
			{"no answer", strings.Join(steps, ";"), 0, false, len(steps)},
			{"wrong answer", strings.Join(steps, ";") + ";#" + p.Answer + "1", 0, true, len(steps)},
			{"trailing step", sol + ";", 0, false, len(steps)},
			// The outcome reward reads the text after the last answer mark
			// (T7 also checks the equations, so the whole trace).
			{"two answers", sol + "#" + p.Answer, -1, false, len(steps)},
			{"garbage step", "x;" + sol, -1, false, 0},
		}
		if tc.task.Name() != "t7" { // T7 traces are not unique
			cases = append(cases, struct {
				name     string
				response string
				reward   float64
				wf       bool
				first    int
			}{"missing first step", strings.Join(steps[1:], ";") + ";#" + p.Answer, 1, true, 0})
		}
		for _, c := range cases {
			if c.reward >= 0 {
				if r := tc.task.Reward(p, c.response); r != c.reward {
					t.Errorf("%s %s: Reward(%q) = %v, want %v", tc.task.Name(), c.name, c.response, r, c.reward)
				}
			}
			if wf := tc.task.WellFormed(p, c.response); wf != c.wf {
				t.Errorf("%s %s: WellFormed(%q) = %v", tc.task.Name(), c.name, c.response, wf)
			}
			if f := tc.task.FirstWrongStep(p, c.response); f != c.first {
				t.Errorf("%s %s: FirstWrongStep(%q) = %d, want %d", tc.task.Name(), c.name, c.response, f, c.first)
			}
		}
	}
}

func TestDifficultyKnob(t *testing.T) {
	for _, tc := range generated(t) {
		rng := rand.New(rand.NewPCG(4, 4))
		mean := func(d int) float64 {
			sum := 0
			for range 50 {
				sum += len(BodySteps(tc.task.Generate(rng, d).Solution))
			}
			return float64(sum) / 50
		}
		lo, hi := mean(tc.lo), mean(tc.hi)
		if hi <= lo {
			t.Errorf("%s: mean steps %v at difficulty %d, %v at %d", tc.task.Name(), lo, tc.lo, hi, tc.hi)
		}
		// Every task here has exactly one step per unit of difficulty
		// (T7: one equation fewer than numbers).
		want := float64(tc.hi)
		if tc.task.Name() == "t7" {
			want--
		}
		if hi != want {
			t.Errorf("%s: difficulty %d gives %v steps, want %v", tc.task.Name(), tc.hi, hi, want)
		}
	}
}

func TestDeterministicGenerate(t *testing.T) {
	for _, tc := range generated(t) {
		a := rand.New(rand.NewPCG(5, 5))
		b := rand.New(rand.NewPCG(5, 5))
		for range 50 {
			p, q := tc.task.Generate(a, tc.hi), tc.task.Generate(b, tc.hi)
			if p.Prompt != q.Prompt || p.Solution != q.Solution {
				t.Fatalf("%s: same seed, different problems %q %q", tc.task.Name(), p.Prompt, q.Prompt)
			}
		}
	}
}

func TestStepsAndExtractAnswer(t *testing.T) {
	cases := []struct {
		in     string
		steps  []string
		answer string
		ok     bool
	}{
		{"", nil, "", false},
		{"3+5=8;#8", []string{"3+5=8", "#8"}, "8", true},
		{"a;b;", []string{"a", "b"}, "", false},
		{"#1#2", []string{"#1#2"}, "2", true},
	}
	for _, c := range cases {
		if got := Steps(c.in); strings.Join(got, "|") != strings.Join(c.steps, "|") {
			t.Errorf("Steps(%q) = %q, want %q", c.in, got, c.steps)
		}
		if a, ok := ExtractAnswer(c.in); a != c.answer || ok != c.ok {
			t.Errorf("ExtractAnswer(%q) = %q, %v", c.in, a, ok)
		}
	}
}

func TestNew(t *testing.T) {
	for _, name := range []string{"t1", "t2", "t4", "t7"} {
		tk, err := New(name, Options{})
		if err != nil || tk.Name() != name {
			t.Errorf("New(%q) = %v, %v", name, tk, err)
		}
	}
	if tk, err := New("t1", Options{Mod: 101}); err != nil || tk.(*T1).Mod() != 101 {
		t.Errorf("New(t1, Mod 101) = %v, %v", tk, err)
	}
	if _, err := New("t1", Options{Mod: 1}); err == nil || !strings.Contains(err.Error(), "modulus") {
		t.Errorf("New(t1, Mod 1) error %v", err)
	}
	if _, err := New("t9", Options{}); err == nil || !strings.Contains(err.Error(), `"t9"`) || !strings.Contains(err.Error(), "t7") {
		t.Errorf("New(t9) error %v", err)
	}
	if _, err := New("jsonl", Options{}); err == nil || !strings.Contains(err.Error(), "train") {
		t.Errorf("New(jsonl) without train file: error %v", err)
	}
}
