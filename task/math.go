package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/sirl-dev/sirl/tokenizer"
)

// MathConfig configures the math task.
type MathConfig struct {
	// TrainPath and TestPath are .parquet, .jsonl or .json files; at least
	// one is required. Without training rows Generate draws test rows.
	TrainPath string `mapstructure:"train" json:"train" yaml:"train"`
	TestPath  string `mapstructure:"test" json:"test" yaml:"test"`
	// PromptKey and AnswerKey name the columns (dotted for nested fields,
	// e.g. "reward_model.ground_truth"); empty: the first of
	// MathPromptKeys() / MathAnswerKeys() that the first row has.
	PromptKey string `mapstructure:"prompt_key" json:"prompt_key" yaml:"prompt_key"`
	AnswerKey string `mapstructure:"answer_key" json:"answer_key" yaml:"answer_key"`
	// PromptSuffix is appended to the last user message (e.g. "Put the
	// final answer in \boxed{}."); empty: none.
	PromptSuffix string `mapstructure:"prompt_suffix" json:"prompt_suffix" yaml:"prompt_suffix"`
	// MaxRows caps the rows read from each file (0: all).
	MaxRows int `mapstructure:"max_rows" json:"max_rows" yaml:"max_rows"`
	// Template renders the prompt messages, with the generation prompt;
	// nil: the plain template (the message texts only).
	Template *tokenizer.ChatTemplate `mapstructure:"-" json:"-" yaml:"-"`
}

// MathPromptKeys returns the prompt columns tried, in order, when PromptKey
// is empty (verl: prompt; TRL and the MATH/GSM8K sets: problem, question).
func MathPromptKeys() []string {
	return []string{"prompt", "problem", "question", "query", "input", "instruction"}
}

// MathAnswerKeys returns the answer columns tried, in order, when AnswerKey
// is empty (verl: reward_model.ground_truth; GSM8K: answer; MATH: solution).
func MathAnswerKeys() []string {
	return []string{"reward_model.ground_truth", "ground_truth", "answer", "final_answer", "solution", "target", "label"}
}

// MathItem is the Data of a math Problem.
type MathItem struct {
	// Messages are the prompt as chat turns (a string prompt is one user turn).
	Messages []tokenizer.Message
	// Answers are the accepted final answers (Problem.Answer is the first).
	Answers []string
}

// Math is the task of real math data sets (GSM8K, MATH, verl and TRL
// parquet/JSONL files): each problem is a row, the reward is 1 when the
// response's final answer (ExtractMathAnswer) is equivalent to the ground
// truth (MathAnswersEqual). Steps are the response's non-blank lines
// (MathSteps). There is no step oracle and no error injector for real data.
type Math struct {
	train, test []Problem
}

// LoadMath reads the training and test files of cfg.
func LoadMath(cfg MathConfig) (*Math, error) {
	if cfg.TrainPath == "" && cfg.TestPath == "" {
		return nil, errors.New("task math: no train or test file given")
	}
	if cfg.MaxRows < 0 {
		return nil, fmt.Errorf("task math: max_rows %d must be >= 0", cfg.MaxRows)
	}
	tpl := tokenizer.PlainTemplate()
	if cfg.Template != nil {
		tpl = *cfg.Template
	}
	m := &Math{}
	for _, f := range []struct {
		path string
		dst  *[]Problem
	}{{cfg.TrainPath, &m.train}, {cfg.TestPath, &m.test}} {
		if f.path == "" {
			continue
		}
		ps, err := loadMathFile(f.path, cfg, tpl)
		if err != nil {
			return nil, err
		}
		*f.dst = ps
	}
	return m, nil
}

// pickMathKey returns key when set, else the first candidate present.
func pickMathKey(path, what, key string, candidates []string, first map[string]any) (string, error) {
	if key != "" {
		if _, ok := lookupField(first, key); !ok {
			return "", fmt.Errorf("task math: %s: row 1 has no %s column %q; columns: %s", path, what, key, strings.Join(fieldNames(first), ", "))
		}
		return key, nil
	}
	for _, c := range candidates {
		if _, ok := lookupField(first, c); ok {
			return c, nil
		}
	}
	return "", fmt.Errorf("task math: %s: no %s column among %s (set %s_key); columns: %s",
		path, what, strings.Join(candidates, ", "), what, strings.Join(fieldNames(first), ", "))
}

func loadMathFile(path string, cfg MathConfig, tpl tokenizer.ChatTemplate) ([]Problem, error) {
	recs, err := readMathRecords(path, cfg.MaxRows)
	if err != nil {
		return nil, err
	}
	pk, err := pickMathKey(path, "prompt", cfg.PromptKey, MathPromptKeys(), recs[0].fields)
	if err != nil {
		return nil, err
	}
	ak, err := pickMathKey(path, "answer", cfg.AnswerKey, MathAnswerKeys(), recs[0].fields)
	if err != nil {
		return nil, err
	}
	out := make([]Problem, 0, len(recs))
	for _, rec := range recs {
		p, err := mathProblem(rec.fields, pk, ak, cfg.PromptSuffix, tpl)
		if err != nil {
			return nil, fmt.Errorf("task math: %s: %s: %v", path, rec.where, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// mathProblem builds a Problem from one row.
func mathProblem(row map[string]any, promptKey, answerKey, suffix string, tpl tokenizer.ChatTemplate) (Problem, error) {
	pv, ok := lookupField(row, promptKey)
	if !ok {
		return Problem{}, fmt.Errorf("no prompt column %q", promptKey)
	}
	msgs, err := mathMessages(pv)
	if err != nil {
		return Problem{}, fmt.Errorf("prompt column %q: %v", promptKey, err)
	}
	if suffix != "" {
		last := len(msgs) - 1
		for last >= 0 && msgs[last].Role != "user" {
			last--
		}
		if last < 0 {
			last = len(msgs) - 1
		}
		msgs[last].Content += suffix
	}
	av, ok := lookupField(row, answerKey)
	if !ok {
		return Problem{}, fmt.Errorf("no answer column %q", answerKey)
	}
	raw, err := mathAnswerTexts(av)
	if err != nil {
		return Problem{}, fmt.Errorf("answer column %q: %v", answerKey, err)
	}
	item := MathItem{Messages: msgs}
	solution := ""
	for _, r := range raw {
		a := mathGroundTruth(r)
		if a == "" {
			return Problem{}, fmt.Errorf("answer column %q is empty", answerKey)
		}
		if solution == "" && strings.TrimSpace(r) != a {
			solution = r // the column holds a worked solution
		}
		item.Answers = append(item.Answers, a)
	}
	return Problem{
		Prompt:   tokenizer.RenderChat(tpl, msgs, true),
		Solution: solution,
		Answer:   item.Answers[0],
		Data:     item,
	}, nil
}

// mathMessages reads a prompt: a string, or a list of {role, content}.
func mathMessages(v any) ([]tokenizer.Message, error) {
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, errors.New("empty prompt")
		}
		return []tokenizer.Message{{Role: "user", Content: x}}, nil
	case []byte:
		return mathMessages(string(x))
	case []any:
		var msgs []tokenizer.Message
		for i, e := range x {
			mm, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("message %d is %T, want an object with role and content", i, e)
			}
			role, ok1 := mathString(mm["role"])
			content, ok2 := mathString(mm["content"])
			if !ok1 || !ok2 || role == "" {
				return nil, fmt.Errorf("message %d needs string role and content", i)
			}
			msgs = append(msgs, tokenizer.Message{Role: role, Content: content})
		}
		if len(msgs) == 0 {
			return nil, errors.New("empty message list")
		}
		return msgs, nil
	}
	return nil, fmt.Errorf("is %T, want a string or a list of messages", v)
}

// mathString converts a scalar (string, bytes, number) to text.
func mathString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case json.Number:
		return x.String(), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	}
	return "", false
}

// mathAnswerTexts reads an answer cell: a scalar or a list of scalars.
func mathAnswerTexts(v any) ([]string, error) {
	if s, ok := mathString(v); ok {
		return []string{s}, nil
	}
	if xs, ok := v.([]any); ok && len(xs) > 0 {
		var out []string
		for _, x := range xs {
			s, ok := mathString(x)
			if !ok {
				return nil, fmt.Errorf("list element is %T, want a string or number", x)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("is %T, want a string, a number or a list of them", v)
}

// Name is "math".
func (m *Math) Name() string { return "math" }

// TrainProblems returns the training rows as problems.
func (m *Math) TrainProblems() []Problem { return m.train }

// TestProblems returns the test rows as problems.
func (m *Math) TestProblems() []Problem { return m.test }

// HardProblems returns nil: real data has no separate hard set.
func (m *Math) HardProblems() []Problem { return nil }

// Generate draws a training row (a test row when there are no training
// rows); difficulty is ignored.
func (m *Math) Generate(rng *rand.Rand, difficulty int) Problem {
	ps := m.train
	if len(ps) == 0 {
		ps = m.test
	}
	if len(ps) == 0 {
		return Problem{}
	}
	return ps[rng.IntN(len(ps))]
}

// mathAnswers returns the accepted answers of p.
func mathAnswers(p Problem) []string {
	if it, ok := p.Data.(MathItem); ok && len(it.Answers) > 0 {
		return it.Answers
	}
	return []string{p.Answer}
}

// Reward is 1 when the response's final answer is equivalent to one of the
// problem's answers, else 0.
func (m *Math) Reward(p Problem, response string) float64 {
	got, ok := ExtractMathAnswer(response)
	if !ok {
		return 0
	}
	for _, a := range mathAnswers(p) {
		if MathAnswersEqual(got, a) {
			return 1
		}
	}
	return 0
}

// WellFormed reports whether the response has an extractable final answer.
func (m *Math) WellFormed(p Problem, response string) bool {
	_, ok := ExtractMathAnswer(response)
	return ok
}

// FirstWrongStep has no oracle for real data: it returns -1 when the answer
// is right and len(MathSteps(response)) otherwise (the answer is wrong,
// which step went wrong is unknown).
func (m *Math) FirstWrongStep(p Problem, response string) int {
	if m.Reward(p, response) == 1 {
		return -1
	}
	return len(MathSteps(response))
}

// InjectError is not available for real data; ok is always false.
func (m *Math) InjectError(rng *rand.Rand, p Problem, k int) (string, bool) {
	return "", false
}

// MathStepSpans returns the byte spans [start, end) of the non-blank lines
// of a response, without their line breaks.
func MathStepSpans(response string) [][2]int {
	var out [][2]int
	start := 0
	for i := 0; i <= len(response); i++ {
		if i < len(response) && response[i] != '\n' {
			continue
		}
		end := i
		if end > start && response[end-1] == '\r' {
			end--
		}
		if strings.TrimSpace(response[start:end]) != "" {
			out = append(out, [2]int{start, end})
		}
		start = i + 1
	}
	return out
}

// MathSteps splits a response into steps for SIRL: its non-blank lines.
func MathSteps(response string) []string {
	spans := MathStepSpans(response)
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = response[s[0]:s[1]]
	}
	return out
}
