package task

// FromPrompter is implemented by tasks whose steps copy symbols from the
// prompt. FromPrompt reports whether a response copies them faithfully: the
// deterministic audit's rule 4 (METHOD.md §3.6.1, "foreign_symbols"). It
// checks provenance only, never a computed value, so it is not process
// supervision: a step with a wrong result but the right operands passes.
type FromPrompter interface {
	FromPrompt(p Problem, response string) bool
}

// FromPrompt: T1 has one step per operation of the prompt, and step k's
// operator and right operand are the prompt's k-th operation and argument
// ("3 +5 *2": steps "…+5=…", "…*2=…"). Left operands and results are
// computed, so they are not checked.
func (t *T1) FromPrompt(p Problem, response string) bool {
	d, ok := t.data(p)
	if !ok {
		return false
	}
	steps, _, ok := ParseTrace(response)
	if !ok || len(steps) != len(d.ops) {
		return false
	}
	for k, s := range steps {
		eq, ok := parseEquation(s, "+-*")
		if !ok || eq.op != d.ops[k] || eq.b != d.args[k] {
			return false
		}
	}
	return true
}

// FromPrompt: T2 has one step per column, and column k's two digits are the
// operands' k-th digits from the right (0 past the shorter one's end).
// Carries and sums are computed, so they are not checked.
func (t *T2) FromPrompt(p Problem, response string) bool {
	d, ok := t.data(p)
	if !ok {
		return false
	}
	steps, _, ok := ParseTrace(response)
	if !ok || len(steps) != max(len(d.x), len(d.y)) {
		return false
	}
	digit := func(ds []int, k int) byte {
		if k < len(ds) {
			return byte('0' + ds[k])
		}
		return '0'
	}
	for k, s := range steps {
		if !t2Step(s) || s[0] != digit(d.x, k) || s[2] != digit(d.y, k) {
			return false
		}
	}
	return true
}
