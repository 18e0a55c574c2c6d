package task

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Label-free checks of the jsonl task (METHOD.md §3.6.1, rule 4, in a
// generic form), applied by the method to repairs and to the correct
// siblings it uses as anchors:
//
//   - provenance (FromPrompt): every number on the left of a step's '=' is
//     either a number of the prompt or the result (right of the last '=')
//     of an earlier step. It only looks at where symbols come from, never at
//     a computed value. The task turns it on only when the data's own
//     reference solutions satisfy it (provenanceMinShare of them), so data
//     with implicit constants ("60 minutes") is not penalised.
//   - copies (KeepsCopies): an edit may not break a span of at least
//     minCopySpan characters, aligned on number boundaries, that the
//     failure's step copied verbatim from the prompt: the repaired step at
//     the same index still contains it.
//   - the step checker (CheckSteps, task.step_check: arith): every step is
//     an equation whose parts evaluate to the same integer. The user opts in
//     when the data is written that way; the training solutions must pass it.
//   - the form check (Form, task.step_check: form, jsonl_form.go): a repair
//     has its anchor's form, and the anchors of one prompt agree on one. The
//     user opts in when every correct solution of a problem has one form.

// provenanceMinShare is the share of training solutions that must satisfy
// the provenance rule for the task to apply it.
const provenanceMinShare = 0.98

// minCopySpan is the shortest prompt span KeepsCopies protects: long enough
// that a computed value rarely matches part of the prompt by chance ("6+4"
// in "6+4=10" where x happens to equal the coefficient 6 is not protected).
const minCopySpan = 4

// StepCheck is the parsed value of task.step_check: the checks the user
// declares for the data.
type StepCheck struct {
	// Arith: every solution step is an equation of integer expressions that
	// holds (CheckArithStep).
	Arith bool
	// Form: every correct solution of a problem has one form (jsonl_form.go).
	Form bool
}

// ParseStepCheck parses task.step_check: "" (none) or a comma-separated
// list of arith and form ("arith", "form", "arith,form"); the error names
// the key.
func ParseStepCheck(s string) (StepCheck, error) {
	var c StepCheck
	if strings.TrimSpace(s) == "" {
		return c, nil
	}
	for _, part := range strings.Split(s, ",") {
		var flag *bool
		switch strings.TrimSpace(part) {
		case "arith":
			flag = &c.Arith
		case "form":
			flag = &c.Form
		default:
			return StepCheck{}, fmt.Errorf("task.step_check: %q in %q is not one of arith, form (a comma-separated list, or \"\" for none)", strings.TrimSpace(part), s)
		}
		if *flag {
			return StepCheck{}, fmt.Errorf("task.step_check: %q names %s twice", s, strings.TrimSpace(part))
		}
		*flag = true
	}
	return c, nil
}

// StepChecker is implemented by tasks that can check each step of a
// response on its own (a user-declared checker; not an oracle: it needs no
// reference solution). CheckSteps reports whether every step holds.
type StepChecker interface {
	CheckSteps(p Problem, response string) bool
}

// CopyKeeper is implemented by tasks that can tell whether a repair keeps
// what the failure copied from the prompt.
type CopyKeeper interface {
	KeepsCopies(p Problem, failed, repaired string) bool
}

// numbers returns the maximal digit runs of s, in order.
func numbers(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// splitEquation splits a step at its last '=' into the left side and the
// result; ok is false without '='.
func splitEquation(step string) (lhs, result string, ok bool) {
	i := strings.LastIndexByte(step, '=')
	if i < 0 {
		return "", "", false
	}
	return step[:i], strings.TrimSpace(step[i+1:]), true
}

// provenanceHolds is the provenance rule on one response.
func provenanceHolds(prompt, response string) bool {
	known := map[string]bool{}
	for _, n := range numbers(prompt) {
		known[canonNum(n)] = true
	}
	for _, s := range BodySteps(response) {
		lhs, res, ok := splitEquation(s)
		if !ok {
			continue
		}
		for _, n := range numbers(lhs) {
			if !known[canonNum(n)] {
				return false
			}
		}
		for _, n := range numbers(res) {
			known[canonNum(n)] = true
		}
	}
	return true
}

// canonNum drops leading zeros, so "07" and "7" are one number.
func canonNum(n string) string {
	t := strings.TrimLeft(n, "0")
	if t == "" {
		return "0"
	}
	return t
}

// calibrate decides whether the provenance rule applies to the data.
func (j *JSONL) calibrate() {
	ok := 0
	for _, p := range j.train {
		if provenanceHolds(p.Prompt, p.Solution) {
			ok++
		}
	}
	j.provenance = len(j.train) > 0 && float64(ok) >= provenanceMinShare*float64(len(j.train))
}

// Provenance reports whether the task applies the provenance rule (the
// data's own solutions satisfy it).
func (j *JSONL) Provenance() bool { return j.provenance }

// FromPrompt is the provenance rule (task.FromPrompter); always true when
// the data does not satisfy it.
func (j *JSONL) FromPrompt(p Problem, response string) bool {
	return !j.provenance || provenanceHolds(p.Prompt, response)
}

// SetStepCheck sets task.step_check (see ParseStepCheck) after checking
// the training solutions against it: with arith every solution must pass
// the step checker, with form a prompt that occurs twice must have
// solutions of one form. The error names the key and the file and line of
// the first solution that does not pass.
func (j *JSONL) SetStepCheck(value string) error {
	c, err := ParseStepCheck(value)
	if err != nil {
		return err
	}
	if c.Arith {
		for i, p := range j.train {
			if !checkAllSteps(p.Solution) {
				return fmt.Errorf("task.step_check arith: %s: solution %q has a step that is not an equation of integer expressions that holds",
					where(p, i), clip(p.Solution))
			}
		}
	}
	if c.Form {
		if err := checkFormData(j.train); err != nil {
			return err
		}
	}
	j.arith, j.form = c.Arith, c.Form
	return nil
}

// checkAllSteps applies CheckArithStep to every body step (a response
// without steps fails).
func checkAllSteps(response string) bool { return stepsHold(response, CheckArithStep) }

// stepsHold reports whether response has body steps and holds(step) is
// true for every one of them.
func stepsHold(response string, holds func(step string) bool) bool {
	steps := BodySteps(response)
	for _, s := range steps {
		if !holds(s) {
			return false
		}
	}
	return len(steps) > 0
}

// CheckSteps is the user's step checker; true when none is set.
func (j *JSONL) CheckSteps(p Problem, response string) bool {
	return !j.arith || checkAllSteps(response)
}

// KeepsCopies reports whether every span of at least minCopySpan bytes that
// a step of failed copied verbatim from the prompt (a maximal substring of
// the step found in the prompt) is still in the repaired step of the same
// index.
func (j *JSONL) KeepsCopies(p Problem, failed, repaired string) bool {
	fs, rs := BodySteps(failed), BodySteps(repaired)
	for i := 0; i < len(fs) && i < len(rs); i++ {
		for _, span := range promptSpans(p.Prompt, fs[i]) {
			if !strings.Contains(rs[i], span) {
				return false
			}
		}
	}
	return true
}

// promptSpans returns the maximal substrings of step, at least minCopySpan
// long, that occur in prompt, both in step and in prompt starting and ending
// on number boundaries (a span never cuts a number: "2+4" is not copied
// from "x*2+4" into "12+4", where the 2 ends a computed 12).
func promptSpans(prompt, step string) []string {
	var out []string
	end := 0 // spans ending at or before end are contained in an earlier one
	for i := 0; i < len(step); i++ {
		if !numBoundary(step, i) {
			continue
		}
		best := 0
		for j := i + 1; j <= len(step); j++ {
			if !strings.Contains(prompt, step[i:j]) {
				break
			}
			if numBoundary(step, j) && occursAligned(prompt, step[i:j]) {
				best = j - i
			}
		}
		if best >= minCopySpan && i+best > end {
			out = append(out, step[i:i+best])
			end = i + best
		}
	}
	return out
}

// isDigit reports whether c is an ASCII digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// numBoundary reports whether position i of s (0..len(s)) is not inside a
// number: not between two digits.
func numBoundary(s string, i int) bool {
	return i <= 0 || i >= len(s) || !isDigit(s[i-1]) || !isDigit(s[i])
}

// occursAligned reports whether sub occurs in s at a position that starts
// and ends on number boundaries of s.
func occursAligned(s, sub string) bool {
	for off := 0; ; {
		k := strings.Index(s[off:], sub)
		if k < 0 {
			return false
		}
		at := off + k
		if numBoundary(s, at) && numBoundary(s, at+len(sub)) {
			return true
		}
		off = at + 1
	}
}

// injectPropagated corrupts the result of step k of an equation trace and
// re-derives the later steps (the "arith" data): a later left-side number
// that is not a prompt number and equals an earlier corrupted result, or
// the first such number when it is also a prompt number, takes the new
// value, and the step's result is re-evaluated. ok is false when step k or a
// later step is not a single "expression=value" equation.
func injectPropagated(rng *rand.Rand, p Problem, k int) (string, bool) {
	steps, ans, ok := ParseTrace(p.Solution)
	if !ok || k < 0 || k >= len(steps) {
		return "", false
	}
	prompt := map[string]bool{}
	for _, n := range numbers(p.Prompt) {
		prompt[canonNum(n)] = true
	}
	out := append([]string(nil), steps...)
	changed := map[string]string{} // old result -> new result
	for i := k; i < len(steps); i++ {
		lhs, res, ok := splitEquation(steps[i])
		if !ok || strings.Contains(lhs, "=") {
			return "", false
		}
		old, err := strconv.ParseInt(res, 10, 64)
		if err != nil {
			return "", false
		}
		var v int64
		if i == k {
			// A nearby wrong value in the range the results live in.
			bound := max(int64(10), 2*old+1)
			if v = rng.Int64N(bound - 1); v >= old {
				v++
			}
		} else {
			lhs = substituteChanged(lhs, changed, prompt)
			if v, ok = evalArith(lhs); !ok {
				return "", false
			}
		}
		nv := strconv.FormatInt(v, 10)
		if nv != canonNum(res) {
			changed[canonNum(res)] = nv
		}
		out[i] = lhs + "=" + nv
	}
	if last := len(steps) - 1; last >= 0 {
		if _, res, _ := splitEquation(steps[last]); strings.TrimSpace(ans) == res {
			_, ans, _ = splitEquation(out[last])
		}
	}
	return joinTrace(out, ans), true
}

// substituteChanged rewrites the numbers of lhs that carry a corrupted
// earlier result (see injectPropagated).
func substituteChanged(lhs string, changed map[string]string, prompt map[string]bool) string {
	var b strings.Builder
	usedAmbiguous := false
	for i := 0; i < len(lhs); {
		if lhs[i] < '0' || lhs[i] > '9' {
			b.WriteByte(lhs[i])
			i++
			continue
		}
		j := i
		for j < len(lhs) && lhs[j] >= '0' && lhs[j] <= '9' {
			j++
		}
		n := canonNum(lhs[i:j])
		if nv, ok := changed[n]; ok && (!prompt[n] || !usedAmbiguous) {
			if prompt[n] {
				usedAmbiguous = true
			}
			b.WriteString(nv)
		} else {
			b.WriteString(lhs[i:j])
		}
		i = j
	}
	return b.String()
}
