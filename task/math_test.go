package task

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/sirl-dev/sirl/tokenizer"
)

// mathTestFile writes text to a file named name in a fresh temp folder.
func mathTestFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const mathVerlJSONL = `{"data_source": "openai/gsm8k", "prompt": [{"role": "user", "content": "What is 2+3?"}], "ability": "math", "reward_model": {"ground_truth": "5", "style": "rule"}, "extra_info": {"index": 0}}

{"data_source": "openai/gsm8k", "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Half of 1?"}], "reward_model": {"ground_truth": "0.5", "style": "rule"}}
`

func TestLoadMathJSONL(t *testing.T) {
	chat := tokenizer.ChatML()
	cases := []struct {
		name, file, text string
		cfg              MathConfig
		prompts, answers []string
		solution         string
	}{
		{"verl chat prompt", "verl.jsonl", mathVerlJSONL, MathConfig{Template: &chat},
			[]string{"<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n",
				"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHalf of 1?<|im_end|>\n<|im_start|>assistant\n"},
			[]string{"5", "0.5"}, ""},
		{"trl problem/solution", "trl.jsonl",
			`{"problem": "Compute $1/2$.", "solution": "It is $\\boxed{\\frac{1}{2}}$."}`, MathConfig{},
			[]string{"Compute $1/2$."}, []string{`\frac{1}{2}`}, `It is $\boxed{\frac{1}{2}}$.`},
		{"gsm8k question/answer", "gsm.jsonl",
			`{"question": "Tom has 70 and gets 2.", "answer": "70+2=72\n#### 72"}`, MathConfig{PromptSuffix: " Answer after ####."},
			[]string{"Tom has 70 and gets 2. Answer after ####."}, []string{"72"}, "70+2=72\n#### 72"},
		{"answer preferred over solution", "both.jsonl",
			`{"problem": "p", "solution": "long \\boxed{3}", "answer": "3"}`, MathConfig{},
			[]string{"p"}, []string{"3"}, ""},
		{"numeric answer keeps its text", "num.jsonl", `{"question": "q", "answer": 1.50}`, MathConfig{},
			[]string{"q"}, []string{"1.50"}, ""},
		{"explicit keys", "keys.jsonl", `{"q": "x?", "meta": {"gt": "7"}}`, MathConfig{PromptKey: "q", AnswerKey: "meta.gt"},
			[]string{"x?"}, []string{"7"}, ""},
		{"json array", "arr.json", `[{"problem": "a", "answer": "1"}, {"problem": "b", "answer": "2"}]`, MathConfig{},
			[]string{"a", "b"}, []string{"1", "2"}, ""},
		{"max rows", "max.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\": \"b\", \"answer\": \"2\"}\n", MathConfig{MaxRows: 1},
			[]string{"a"}, []string{"1"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.TrainPath = mathTestFile(t, c.file, c.text)
			m, err := LoadMath(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ps := m.TrainProblems()
			var prompts, answers []string
			for _, p := range ps {
				prompts = append(prompts, p.Prompt)
				answers = append(answers, p.Answer)
			}
			if !reflect.DeepEqual(prompts, c.prompts) || !reflect.DeepEqual(answers, c.answers) {
				t.Errorf("prompts %q answers %q\nwant %q %q", prompts, answers, c.prompts, c.answers)
			}
			if ps[0].Solution != c.solution {
				t.Errorf("solution %q, want %q", ps[0].Solution, c.solution)
			}
		})
	}
}

func TestLoadMathErrors(t *testing.T) {
	cases := []struct {
		name, file, text string
		cfg              MathConfig
		want             []string
	}{
		{"bad json line", "bad.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n{oops\n", MathConfig{}, []string{"line 2"}},
		{"no prompt column", "np.jsonl", `{"text": "a", "answer": "1"}`, MathConfig{}, []string{"no prompt column", "columns: answer, text"}},
		{"no answer column", "na.jsonl", `{"prompt": "a", "meta": {"x": 1}}`, MathConfig{}, []string{"no answer column", "meta.x"}},
		{"configured key missing", "ck.jsonl", `{"prompt": "a", "answer": "1"}`, MathConfig{AnswerKey: "gt"}, []string{`answer column "gt"`, "columns: answer, prompt"}},
		{"later row lacks answer", "lr.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\": \"b\"}\n", MathConfig{}, []string{"line 2", `no answer column "answer"`}},
		{"prompt wrong type", "pt.jsonl", `{"prompt": 5, "answer": "1"}`, MathConfig{}, []string{"line 1", "want a string or a list of messages"}},
		{"bad message", "bm.jsonl", `{"prompt": [{"role": "user"}], "answer": "1"}`, MathConfig{}, []string{"message 0 needs string role and content"}},
		{"empty answer", "ea.jsonl", `{"prompt": "a", "answer": "  "}`, MathConfig{}, []string{"is empty"}},
		{"answer object", "ao.jsonl", `{"prompt": "a", "answer": {"x": 1}}`, MathConfig{}, []string{"want a string, a number or a list"}},
		{"empty file", "empty.jsonl", "\n\n", MathConfig{}, []string{"no rows"}},
		{"not parquet", "x.parquet", "this is not parquet", MathConfig{}, []string{"not a readable Parquet file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.TrainPath = mathTestFile(t, c.file, c.text)
			_, err := LoadMath(cfg)
			if err == nil {
				t.Fatal("LoadMath accepted a bad file")
			}
			for _, w := range append(c.want, cfg.TrainPath) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := LoadMath(MathConfig{}); err == nil {
		t.Error("LoadMath without files succeeded")
	}
	if _, err := LoadMath(MathConfig{TrainPath: filepath.Join(t.TempDir(), "none.jsonl")}); err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Errorf("missing file: %v", err)
	}
}

// Parquet rows shaped like verl's and TRL's data files.
type mathPQMessage struct {
	Content string `parquet:"content"`
	Role    string `parquet:"role"`
}

type mathPQReward struct {
	GroundTruth string `parquet:"ground_truth"`
	Style       string `parquet:"style"`
}

type mathPQVerl struct {
	DataSource  string          `parquet:"data_source"`
	Prompt      []mathPQMessage `parquet:"prompt,list"`
	RewardModel mathPQReward    `parquet:"reward_model"`
}

type mathPQTRL struct {
	Question string `parquet:"question"`
	Answer   int64  `parquet:"answer"`
}

func writeMathParquet[T any](t *testing.T, name string, rows []T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := parquet.Write(f, rows); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMathParquet(t *testing.T) {
	verl := writeMathParquet(t, "train.parquet", []mathPQVerl{
		{"gsm8k", []mathPQMessage{{"What is 6*7?", "user"}}, mathPQReward{"42", "rule"}},
		{"gsm8k", []mathPQMessage{{"Sys.", "system"}, {"What is 3/4?", "user"}}, mathPQReward{"0.75", "rule"}},
	})
	trl := writeMathParquet(t, "test.parquet", []mathPQTRL{{"How many legs has a cat?", 4}})
	chat := tokenizer.ChatML()
	m, err := LoadMath(MathConfig{TrainPath: verl, TestPath: trl, Template: &chat, PromptSuffix: " Box it."})
	if err != nil {
		t.Fatal(err)
	}
	train, test := m.TrainProblems(), m.TestProblems()
	if len(train) != 2 || len(test) != 1 {
		t.Fatalf("got %d train, %d test problems", len(train), len(test))
	}
	if want := "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nWhat is 3/4? Box it.<|im_end|>\n<|im_start|>assistant\n"; train[1].Prompt != want {
		t.Errorf("prompt %q, want %q", train[1].Prompt, want)
	}
	if train[0].Answer != "42" || train[1].Answer != "0.75" || test[0].Answer != "4" {
		t.Errorf("answers %q %q %q", train[0].Answer, train[1].Answer, test[0].Answer)
	}
	if m.Reward(train[1], `so \boxed{\frac34}`) != 1 {
		t.Errorf("3/4 not rewarded for 0.75")
	}
	if got := m.TestProblems()[0].Data.(MathItem).Messages; !reflect.DeepEqual(got, []tokenizer.Message{{Role: "user", Content: "How many legs has a cat? Box it."}}) {
		t.Errorf("messages %v", got)
	}
}

func TestMathTask(t *testing.T) {
	path := mathTestFile(t, "d.jsonl", `{"prompt": "p1", "answer": "1/2"}
{"prompt": "p2", "ground": 1, "answer": ["7", "seven"]}
{"prompt": "p3", "answer": "12"}`)
	m, err := LoadMath(MathConfig{TrainPath: path})
	if err != nil {
		t.Fatal(err)
	}
	var tk Task = m
	if tk.Name() != "math" {
		t.Errorf("Name = %q", tk.Name())
	}
	seen := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100 {
		seen[tk.Generate(rng, 5).Prompt] = true
	}
	if len(seen) != 3 {
		t.Errorf("Generate drew %d distinct prompts of 3", len(seen))
	}
	a := rand.New(rand.NewPCG(9, 9))
	b := rand.New(rand.NewPCG(9, 9))
	if tk.Generate(a, 0).Prompt != tk.Generate(b, 0).Prompt {
		t.Errorf("Generate is not deterministic for a seed")
	}
	ps := m.TrainProblems()
	cases := []struct {
		p        Problem
		resp     string
		reward   float64
		wellForm bool
		fws      int
	}{
		{ps[0], "Half.\n\nSo the answer is \\boxed{0.5}.", 1, true, -1},
		{ps[0], "Step one\nstep two\n#### 0.25", 0, true, 3},
		{ps[0], "no idea", 0, false, 1},
		{ps[1], "it is seven: \\boxed{seven}", 1, true, -1},
		{ps[1], "3+4 = 7", 1, true, -1},
		{ps[2], "1,2\n12", 1, true, -1},
		{ps[2], "", 0, false, 0},
	}
	for _, c := range cases {
		if got := tk.Reward(c.p, c.resp); got != c.reward {
			t.Errorf("Reward(%q, %q) = %v, want %v", c.p.Answer, c.resp, got, c.reward)
		}
		if got := tk.WellFormed(c.p, c.resp); got != c.wellForm {
			t.Errorf("WellFormed(%q) = %v", c.resp, got)
		}
		if got := tk.FirstWrongStep(c.p, c.resp); got != c.fws {
			t.Errorf("FirstWrongStep(%q) = %d, want %d", c.resp, got, c.fws)
		}
	}
	if _, ok := tk.InjectError(rng, ps[0], 0); ok {
		t.Error("InjectError succeeded on real data")
	}
	if m.HardProblems() != nil {
		t.Error("HardProblems should be nil")
	}
	// Without training rows Generate draws test rows.
	only, err := LoadMath(MathConfig{TestPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if p := only.Generate(rng, 0); p.Prompt == "" {
		t.Error("Generate without training rows returned nothing")
	}
}

func TestMathSteps(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"a\nb", []string{"a", "b"}},
		{"a\r\n\r\n  \nb\n", []string{"a", "b"}},
		{"", []string{}},
		{"one", []string{"one"}},
		{"  x = 1\n\ty", []string{"  x = 1", "\ty"}},
	}
	for _, c := range cases {
		got := MathSteps(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("MathSteps(%q) = %q, want %q", c.in, got, c.want)
		}
		for i, sp := range MathStepSpans(c.in) {
			if c.in[sp[0]:sp[1]] != got[i] {
				t.Errorf("span %v of %q is not step %q", sp, c.in, got[i])
			}
		}
	}
}
