package task

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxNumDigits bounds the numbers the parsers accept, so that arithmetic on
// parsed values never overflows an int.
const maxNumDigits = 9

// ParseTrace splits a response in the strict trace grammar
// "step;step;...;#answer": every step non-empty and free of the answer mark,
// exactly one answer mark, at the start of the last segment, and a non-empty
// answer. ok is false when the response does not have that shape.
func ParseTrace(response string) (steps []string, answer string, ok bool) {
	segs := strings.Split(response, string(StepDelim))
	last := segs[len(segs)-1]
	if len(last) < 2 || last[0] != AnswerMark || strings.IndexByte(last[1:], AnswerMark) >= 0 {
		return nil, "", false
	}
	body := segs[:len(segs)-1]
	for _, s := range body {
		if s == "" || strings.IndexByte(s, AnswerMark) >= 0 {
			return nil, "", false
		}
	}
	return body, last[1:], true
}

// BodySteps is the lenient split used by the oracles: the segments of
// response before the first one that starts with the answer mark (all of
// them when there is none). Malformed segments are kept, so that an oracle
// can call them wrong.
func BodySteps(response string) []string {
	segs := strings.Split(response, string(StepDelim))
	for i, s := range segs {
		if len(s) > 0 && s[0] == AnswerMark {
			return segs[:i]
		}
	}
	if len(segs) == 1 && segs[0] == "" {
		return nil
	}
	return segs
}

// firstDiff is the oracle of the unique-trace tasks: the first body step of
// response that differs from the canonical steps, len(body) when the body
// matches but the trace is malformed or its answer differs from answer, and
// -1 when the response is the canonical trace.
func firstDiff(response string, canon []string, answer string) int {
	body := BodySteps(response)
	for i, s := range body {
		if i >= len(canon) || s != canon[i] {
			return i
		}
	}
	if len(body) < len(canon) {
		return len(body)
	}
	if _, a, ok := ParseTrace(response); !ok || a != answer {
		return len(body)
	}
	return -1
}

// joinTrace writes steps and answer in the trace grammar.
func joinTrace(steps []string, answer string) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s)
		b.WriteByte(StepDelim)
	}
	b.WriteByte(AnswerMark)
	b.WriteString(answer)
	return b.String()
}

// parseNat parses a non-negative decimal number of 1..maxNumDigits digits.
func parseNat(s string) (int, bool) {
	if len(s) == 0 || len(s) > maxNumDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseInt parses an optionally negative decimal number.
func parseInt(s string) (int, bool) {
	if strings.HasPrefix(s, "-") {
		n, ok := parseNat(s[1:])
		return -n, ok
	}
	return parseNat(s)
}

// equation is one "a op b=c" step of T1 and T7.
type equation struct {
	a, b, c int
	op      byte
}

// parseEquation parses "a op b=c" with non-negative numbers and op one of ops.
func parseEquation(s, ops string) (equation, bool) {
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return equation{}, false
	}
	lhs, rhs := s[:eq], s[eq+1:]
	c, ok := parseNat(rhs)
	if !ok {
		return equation{}, false
	}
	// The operator is the first non-digit after at least one digit.
	i := 0
	for i < len(lhs) && lhs[i] >= '0' && lhs[i] <= '9' {
		i++
	}
	if i == 0 || i == len(lhs) || strings.IndexByte(ops, lhs[i]) < 0 {
		return equation{}, false
	}
	a, ok1 := parseNat(lhs[:i])
	b, ok2 := parseNat(lhs[i+1:])
	if !ok1 || !ok2 {
		return equation{}, false
	}
	return equation{a: a, b: b, c: c, op: lhs[i]}, true
}

// String writes the equation as "a op b=c".
func (e equation) String() string {
	return strconv.Itoa(e.a) + string(e.op) + strconv.Itoa(e.b) + "=" + strconv.Itoa(e.c)
}

// allWellFormed reports whether response is a strict trace with at least one
// step, every step accepted by step and the answer accepted by answer.
func allWellFormed(response string, step, answer func(string) bool) bool {
	steps, a, ok := ParseTrace(response)
	if !ok || len(steps) == 0 || !answer(a) {
		return false
	}
	for _, s := range steps {
		if !step(s) {
			return false
		}
	}
	return true
}

// isNat reports whether s is a non-negative decimal number.
func isNat(s string) bool { _, ok := parseNat(s); return ok }

// isInt reports whether s is an optionally negative decimal number.
func isInt(s string) bool { _, ok := parseInt(s); return ok }

// reward1 is the 0/1 outcome reward: the extracted answer equals want.
func reward1(response, want string) float64 {
	if a, ok := ExtractAnswer(response); ok && a == want {
		return 1
	}
	return 0
}

// smallDelta returns a non-zero offset in ±1..max for plausible wrong values.
func smallDelta(r *rand.Rand, max int) int {
	d := 1 + r.IntN(max)
	if r.IntN(2) == 0 {
		return -d
	}
	return d
}
