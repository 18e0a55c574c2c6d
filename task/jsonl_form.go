package task

import (
	"fmt"
	"strings"
)

// The form check (task.step_check: form) is a label-free check for data in
// which every correct solution of a problem has one form: recurrences,
// straight-line programs, any trace whose steps are fixed by the problem
// (not free-form math, where correct solutions differ in their steps). It
// compares a response with another response to the same problem, never
// with the reference solution, so it needs no label.
//
// A response's form is its number of body steps and, per step, its shape
// (the step with spaces removed, every number left of the last '=' an
// operand slot, every number right of it a result slot: computed values are
// abstracted away) and, per operand slot, where the operand comes from:
//
//   - "result of step j": the most recent earlier step whose result (a
//     number right of its last '=') has the operand's value;
//   - "constant v": the operand's value v, when v is a number of the prompt
//     or no earlier step has it as a result (an unsourced number keeps its
//     value, so that identical responses always agree).
//
// A value can be both: the x of "x=10 (x*6+5)%11" is 10 and so is the
// result of 65%11. Such an operand has two admissible readings, and two
// forms agree when each pair of operand slots shares a reading (a reading
// of the whole response is a choice per slot, so this is "some readings of
// the two responses agree"). The most recent step is the only step reading,
// so that a response reusing an older result of the same value reads as
// the one reusing the latest: identical texts have identical forms. Operand
// order is kept (5*10 and 10*5 differ): in unique-form data the order is
// part of the form.
//
// Together with the arith step checker, agreeing forms imply equal values
// in every step, so a repair must then be its anchor's trace up to
// formatting: the unique correct trace, which is what unique-form data has.

// Form is the form of one response (see above); the zero Form has no steps.
type Form struct {
	steps []formStep
}

// formStep is one step of a Form.
type formStep struct {
	shape    string // spaces removed; operands as formOperand, results as formResult
	operands []formReading
}

// formReading is the admissible readings of one operand slot: the most
// recent earlier step whose result has the value (step, or -1 for none) and
// the value as a constant (value, or "" when it is not a constant reading).
type formReading struct {
	step  int
	value string
}

// Slot markers of a shape: bytes that do not occur in text steps.
const (
	formOperand = '\x00'
	formResult  = '\x01'
)

// agrees reports whether two readings share one.
func (r formReading) agrees(o formReading) bool {
	return (r.step >= 0 && r.step == o.step) || (r.value != "" && r.value == o.value)
}

// ResponseForm returns the form of response's body steps for a problem
// whose prompt is prompt.
func ResponseForm(prompt, response string) Form {
	inPrompt := map[string]bool{}
	for _, n := range numbers(prompt) {
		inPrompt[canonNum(n)] = true
	}
	lastResult := map[string]int{} // value -> most recent step with that result
	var f Form
	for i, s := range BodySteps(response) {
		lhs, res, ok := splitEquation(s)
		if !ok {
			lhs, res = s, ""
		}
		var b strings.Builder
		var ops []formReading
		each := func(text string, slot byte, num func(string)) {
			for k := 0; k < len(text); {
				c := text[k]
				switch {
				case isDigit(c):
					j := k
					for j < len(text) && isDigit(text[j]) {
						j++
					}
					b.WriteByte(slot)
					num(canonNum(text[k:j]))
					k = j
				case c == ' ' || c == '\t':
					k++
				default:
					b.WriteByte(c)
					k++
				}
			}
		}
		each(lhs, formOperand, func(v string) {
			r := formReading{step: -1}
			if j, ok := lastResult[v]; ok {
				r.step = j
			}
			if inPrompt[v] || r.step < 0 {
				r.value = v
			}
			ops = append(ops, r)
		})
		if ok {
			b.WriteByte('=')
			var results []string
			each(res, formResult, func(v string) { results = append(results, v) })
			for _, v := range results {
				lastResult[v] = i
			}
		}
		f.steps = append(f.steps, formStep{shape: b.String(), operands: ops})
	}
	return f
}

// Steps is the number of body steps of the form.
func (f Form) Steps() int { return len(f.steps) }

// Agrees reports whether two forms agree: the same number of steps, the
// same shape step by step, and a shared reading for every operand slot.
// It is symmetric but not transitive (an ambiguous operand agrees with
// both of its readings).
func (f Form) Agrees(o Form) bool {
	if len(f.steps) != len(o.steps) {
		return false
	}
	for i, s := range f.steps {
		t := o.steps[i]
		if s.shape != t.shape || len(s.operands) != len(t.operands) {
			return false
		}
		for k, r := range s.operands {
			if !r.agrees(t.operands[k]) {
				return false
			}
		}
	}
	return true
}

// FormMajority decides which of n responses to one problem (the correct
// siblings that passed the other checks) may serve as anchors under the
// form check; agree(a, b) reports whether the forms of responses a and b
// agree. A response's support is the number of responses (itself included)
// whose form agrees with its own. A response is kept when every response
// whose form disagrees with its own has strictly less support: the
// minority forms are rejected, and so are both sides of a tie (one against
// one, two against two), since nothing label-free tells which is right.
// The kept responses agree pairwise (two that disagreed would each need
// more support than the other). A single response is kept unchecked: there
// is nothing to compare it with.
func FormMajority(n int, agree func(a, b int) bool) []bool {
	support := make([]int, n)
	for a := range n {
		for b := range n {
			if a == b || agree(a, b) {
				support[a]++
			}
		}
	}
	keep := make([]bool, n)
	for a := range n {
		keep[a] = true
		for b := range n {
			if b != a && !agree(a, b) && support[b] >= support[a] {
				keep[a] = false
				break
			}
		}
	}
	return keep
}

// FormChecker is implemented by tasks that can compare the forms of two
// responses to one problem (task.step_check: form).
type FormChecker interface {
	// FormCheck reports whether the user turned the form check on.
	FormCheck() bool
	// Form is the form of response to p.
	Form(p Problem, response string) Form
}

// FormCheck reports whether task.step_check includes form.
func (j *JSONL) FormCheck() bool { return j.form }

// Form is ResponseForm of p's prompt and response.
func (j *JSONL) Form(p Problem, response string) Form { return ResponseForm(p.Prompt, response) }

// checkFormData is the form check's test on the training data: a prompt
// that occurs more than once must have solutions of agreeing forms (the
// only label-free evidence of one form per problem that one file holds).
// The error names the key and both places.
func checkFormData(train []Problem) error {
	first := map[string]int{}
	for i, p := range train {
		k, seen := first[p.Prompt]
		if !seen {
			first[p.Prompt] = i
			continue
		}
		q := train[k]
		if !ResponseForm(p.Prompt, q.Solution).Agrees(ResponseForm(p.Prompt, p.Solution)) {
			return fmt.Errorf("task.step_check form: prompt %q has solutions of different forms at %s and %s (%q, %q): the form check needs one form per problem",
				clip(p.Prompt), where(q, k), where(p, i), clip(q.Solution), clip(p.Solution))
		}
	}
	return nil
}

// where names the file and line of a problem read by LoadJSONL, or its
// index.
func where(p Problem, i int) string {
	if src, ok := p.Data.(jsonlSource); ok {
		return fmt.Sprintf("%s:%d", src.File, src.Line)
	}
	return fmt.Sprintf("training problem %d", i)
}
