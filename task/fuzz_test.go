package task

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func FuzzStepsExtractAnswer(f *testing.F) {
	for _, s := range []string{"", ";", "#", "3+5=8;8*2=16;#16", "a;;b;#c#d", ";#;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps := Steps(s)
		if got := strings.Join(steps, string(StepDelim)); got != strings.TrimSuffix(s, string(StepDelim)) {
			t.Fatalf("Steps(%q) = %q does not rejoin", s, steps)
		}
		a, ok := ExtractAnswer(s)
		if ok != strings.ContainsRune(s, AnswerMark) || strings.ContainsRune(a, AnswerMark) || !strings.HasSuffix(s, a) {
			t.Fatalf("ExtractAnswer(%q) = %q, %v", s, a, ok)
		}
		body := BodySteps(s)
		if len(body) > len(steps)+1 {
			t.Fatalf("BodySteps(%q) = %q longer than Steps", s, body)
		}
		if ps, pa, ok := ParseTrace(s); ok {
			if joinTrace(ps, pa) != s || pa != a || len(ps) != len(body) {
				t.Fatalf("ParseTrace(%q) = %q, %q", s, ps, pa)
			}
		}
	})
}

// fuzzTasks are the tasks the response fuzzers run, with a fixed problem
// each (including the jsonl task on an in-memory problem).
func fuzzTasks(t testing.TB) ([]Task, []Problem) {
	t1, _ := NewT1(0)
	jp := Problem{Prompt: "2+3", Solution: "2+3=5;#5", Answer: "5"}
	j, err := NewJSONLProblems([]Problem{jp}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := []Task{t1, NewT2(), NewT4(), NewT7(), j}
	rng := rand.New(rand.NewPCG(13, 13))
	probs := make([]Problem, len(tasks))
	for i, tk := range tasks {
		probs[i] = tk.Generate(rng, 4)
	}
	return tasks, probs
}

func FuzzTaskResponse(f *testing.F) {
	tasks, probs := fuzzTasks(f)
	for _, p := range probs {
		f.Add(p.Solution)
	}
	f.Add("1+9+0=10c1;#0")
	f.Add("a=1;b=-2;#-2")
	f.Add("50/0=1;#1")
	f.Fuzz(func(t *testing.T, response string) {
		for i, tk := range tasks {
			p := probs[i]
			r := tk.Reward(p, response)
			if r != 0 && r != 1 {
				t.Fatalf("%s: Reward(%q) = %v", tk.Name(), response, r)
			}
			tk.WellFormed(p, response)
			k := tk.FirstWrongStep(p, response)
			if k < -1 || k > len(BodySteps(response)) {
				t.Fatalf("%s: FirstWrongStep(%q) = %d", tk.Name(), response, k)
			}
			if k == -1 && r != 1 {
				t.Fatalf("%s: FirstWrongStep(%q) = -1 but Reward 0", tk.Name(), response)
			}
		}
	})
}

func FuzzTaskPrompt(f *testing.F) {
	tasks, probs := fuzzTasks(f)
	for _, p := range probs {
		f.Add(p.Prompt, p.Solution, uint8(0))
	}
	f.Add("a=1;a=a*a;b=a-a;?b", "a=1;a=1;b=0;#0", uint8(1))
	f.Add("999999999 *999999 %1000000", "#0", uint8(0))
	f.Fuzz(func(t *testing.T, prompt, solution string, k uint8) {
		rng := rand.New(rand.NewPCG(uint64(k), 1))
		for _, tk := range tasks {
			p := Problem{Prompt: prompt, Solution: solution}
			tk.Reward(p, solution)
			tk.WellFormed(p, solution)
			tk.FirstWrongStep(p, solution)
			bad, ok := tk.InjectError(rng, p, int(k))
			if ok && (!tk.WellFormed(p, bad) || tk.FirstWrongStep(p, bad) != int(k)) {
				t.Fatalf("%s: InjectError(%q, %q, %d) = %q: well formed %v, first wrong step %d",
					tk.Name(), prompt, solution, k, bad, tk.WellFormed(p, bad), tk.FirstWrongStep(p, bad))
			}
		}
	})
}

func FuzzJSONLLine(f *testing.F) {
	for _, s := range strings.Split(goodJSONL, "\n") {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"prompt": null}`))
	f.Add([]byte(`{"prompt": "x", "solution": "a;#1", "answer": 1e3}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		p, err := ParseJSONLLine(line)
		if err != nil {
			return
		}
		a, ok := ExtractAnswer(p.Solution)
		if !ok || strings.TrimSpace(a) != strings.TrimSpace(p.Answer) || strings.TrimSpace(p.Prompt) == "" {
			t.Fatalf("ParseJSONLLine(%q) accepted %+v", line, p)
		}
	})
}
