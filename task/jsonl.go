package task

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// maxJSONLLine bounds one line of a JSONL file.
const maxJSONLLine = 16 << 20

// JSONL is the "jsonl" task: problems read from JSONL files, one object a
// line, {"prompt": "...", "solution": "step;step;...;#answer", "answer": "..."}
// (the answer may also be a JSON number). Generate draws from the training
// problems; the test and hard files, when given, are the held-out and hard
// evaluation sets (see NewSplits).
//
// Without a generator the oracle and the injector are generic:
// FirstWrongStep compares with the reference solution step by step, which is
// only approximate when the data admits several valid traces; InjectError
// changes one digit of step k and keeps the later steps and the answer as
// they were, since generic data cannot be re-derived — unless the user
// declares the steps to be checkable equations (task.step_check: arith),
// when the error propagates through the later steps. The label-free checks
// the method applies to repairs and anchors (provenance, kept copies, the
// step checker) are in jsonl_checks.go.
type JSONL struct {
	train, test, hard []Problem
	// provenance: the data's solutions satisfy the provenance rule, so
	// FromPrompt applies it (see jsonl_checks.go).
	provenance bool
	// arith and form are task.step_check (see ParseStepCheck).
	arith, form bool
}

// jsonlSource is the Data of a problem read from a file: where it came from.
type jsonlSource struct {
	File string
	Line int
}

// NewJSONL loads the train file (required) and the test and hard files
// (optional, "" for none).
func NewJSONL(train, test, hard string) (*JSONL, error) {
	if train == "" {
		return nil, errors.New("task jsonl: the train file is required (task.train)")
	}
	j := &JSONL{}
	for _, f := range []struct {
		path string
		dst  *[]Problem
	}{{train, &j.train}, {test, &j.test}, {hard, &j.hard}} {
		if f.path == "" {
			continue
		}
		ps, err := LoadJSONL(f.path)
		if err != nil {
			return nil, err
		}
		*f.dst = ps
	}
	j.calibrate()
	return j, nil
}

// NewJSONLProblems builds the jsonl task from problems already in memory;
// train must not be empty.
func NewJSONLProblems(train, test, hard []Problem) (*JSONL, error) {
	if len(train) == 0 {
		return nil, errors.New("task jsonl: no training problems")
	}
	j := &JSONL{train: train, test: test, hard: hard}
	j.calibrate()
	return j, nil
}

// LoadJSONL reads a JSONL file of problems. Blank lines are skipped; any
// other bad line (invalid JSON, a missing field, an empty prompt, a solution
// not of the form "step;...;#answer" or whose answer differs from the answer
// field) is an error naming the file, the 1-based line number and the fault.
func LoadJSONL(path string) ([]Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("task jsonl: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxJSONLLine)
	var out []Problem
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		p, err := ParseJSONLLine(b)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		p.Data = jsonlSource{File: path, Line: line}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no problems in the file", path)
	}
	return out, nil
}

// ParseJSONLLine parses and checks one JSONL record (see LoadJSONL).
func ParseJSONLLine(line []byte) (Problem, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(line, &rec); err != nil {
		return Problem{}, fmt.Errorf("invalid JSON: %v", err)
	}
	var vals [3]string
	for i, key := range []string{"prompt", "solution", "answer"} {
		raw, ok := rec[key]
		if !ok || string(raw) == "null" {
			return Problem{}, fmt.Errorf("missing field %q", key)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n json.Number
			if key != "answer" || json.Unmarshal(raw, &n) != nil {
				return Problem{}, fmt.Errorf("field %q is not a string", key)
			}
			s = n.String()
		}
		vals[i] = s
	}
	p := Problem{Prompt: vals[0], Solution: vals[1], Answer: vals[2]}
	if strings.TrimSpace(p.Prompt) == "" {
		return Problem{}, errors.New("empty prompt")
	}
	steps, ans, ok := ParseTrace(p.Solution)
	if !ok || len(steps) == 0 {
		return Problem{}, fmt.Errorf("solution %q is not of the form \"step;step;...;#answer\"", clip(p.Solution))
	}
	if strings.TrimSpace(ans) != strings.TrimSpace(p.Answer) {
		return Problem{}, fmt.Errorf("solution's answer %q differs from the answer field %q", clip(ans), clip(p.Answer))
	}
	return p, nil
}

// clip shortens long text for error messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// CheckEncodable runs encode (e.g. a tokenizer's EncodeChecked) on every
// prompt and solution and returns the first failure, naming the file and
// line of problems read by LoadJSONL.
func CheckEncodable(ps []Problem, encode func(string) ([]int32, error)) error {
	for i, p := range ps {
		for _, f := range []struct{ name, text string }{{"prompt", p.Prompt}, {"solution", p.Solution}} {
			if _, err := encode(f.text); err != nil {
				if src, ok := p.Data.(jsonlSource); ok {
					return fmt.Errorf("%s:%d: %s: %w", src.File, src.Line, f.name, err)
				}
				return fmt.Errorf("problem %d: %s: %w", i, f.name, err)
			}
		}
	}
	return nil
}

// Name is "jsonl".
func (j *JSONL) Name() string { return "jsonl" }

// TrainProblems are the problems of the train file.
func (j *JSONL) TrainProblems() []Problem { return j.train }

// TestProblems are the problems of the test file (nil without one).
func (j *JSONL) TestProblems() []Problem { return j.test }

// HardProblems are the problems of the hard file (nil without one).
func (j *JSONL) HardProblems() []Problem { return j.hard }

// Generate draws a training problem; difficulty is ignored.
func (j *JSONL) Generate(rng *rand.Rand, difficulty int) Problem {
	return j.train[rng.IntN(len(j.train))]
}

// Reward is 1 when the extracted answer equals the reference answer, both
// with surrounding spaces trimmed.
func (j *JSONL) Reward(p Problem, response string) float64 {
	if a, ok := ExtractAnswer(response); ok && strings.TrimSpace(a) == strings.TrimSpace(p.Answer) {
		return 1
	}
	return 0
}

// WellFormed reports whether the response has at least one step and exactly
// one answer marker, at the start of its last segment.
func (j *JSONL) WellFormed(p Problem, response string) bool {
	steps, _, ok := ParseTrace(response)
	return ok && len(steps) > 0
}

// FirstWrongStep is approximate: the first step that differs (spaces
// trimmed) from the reference solution's, len(steps) when all match but the
// answer is wrong or the trace malformed, -1 otherwise. A different but valid
// trace is reported wrong.
func (j *JSONL) FirstWrongStep(p Problem, response string) int {
	ref := BodySteps(p.Solution)
	body := BodySteps(response)
	for i, s := range body {
		if i >= len(ref) || strings.TrimSpace(s) != strings.TrimSpace(ref[i]) {
			return i
		}
	}
	if len(body) < len(ref) {
		return len(body)
	}
	if _, _, ok := ParseTrace(response); !ok || j.Reward(p, response) != 1 {
		return len(body)
	}
	return -1
}

// InjectError corrupts step k of the reference solution. With the "arith"
// step checker the steps are equations, so the error propagates as a real
// one does: step k gets a wrong result and every later step is re-derived
// from it (see injectPropagated). Otherwise one digit of step k changes and
// every other step and the answer stay as they were (generic data cannot be
// re-derived). ok is false when k is out of range or step k has no digit.
func (j *JSONL) InjectError(rng *rand.Rand, p Problem, k int) (string, bool) {
	if j.arith {
		if out, ok := injectPropagated(rng, p, k); ok {
			return out, true
		}
	}
	steps, ans, ok := ParseTrace(p.Solution)
	if !ok || k < 0 || k >= len(steps) {
		return "", false
	}
	var pos []int
	for i := 0; i < len(steps[k]); i++ {
		if c := steps[k][i]; c >= '0' && c <= '9' {
			pos = append(pos, i)
		}
	}
	if len(pos) == 0 {
		return "", false
	}
	i := pos[rng.IntN(len(pos))]
	b := []byte(steps[k])
	b[i] = byte('0' + (int(b[i]-'0')+1+rng.IntN(9))%10)
	out := append([]string(nil), steps...)
	out[k] = string(b)
	return joinTrace(out, ans), true
}
