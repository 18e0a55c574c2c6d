package task

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxT4Lines bounds the program length (single-letter variables a..z).
const maxT4Lines = 26

// maxT4Value bounds every value of a generated program.
const maxT4Value = 99

// T4 is straight-line program evaluation (METHOD.md §6).
//
// Prompt: one assignment per line, lines separated by ';', then "?v" for the
// queried variable: "a=3;b=a+4;c=b*2;d=c-a;?d". A right-hand side is a
// number, a variable, or "x op y" with op in + - * and x, y numbers or
// variables. Trace: the value of every line in order, then the value of the
// queried variable: "a=3;b=7;c=14;d=11;#11". The trace is unique.
//
// Difficulty is the number of lines (1..26, variables a, b, c, ... in
// order). The queried variable is the last line's. For 3 lines or more, 1 to
// lines/3 lines are off the query path (the query does not depend on them):
// an error there changes the trace but not the answer, the
// outcome/process mismatch the task exists to measure. Generated values stay
// in 0..99 and the answer depends (with a non-zero coefficient) on every
// on-path line, so an error on the query path always changes the answer.
type T4 struct{}

// t4Operand is a number or a reference to the line that defines a variable.
type t4Operand struct {
	line int // defining line, -1 for a number
	num  int
}

// t4Line is "lhs=x" or "lhs=x op y" (op 0 for a single operand).
type t4Line struct {
	lhs  byte
	x, y t4Operand
	op   byte
}

// t4Data is a parsed T4 program with its canonical trace.
type t4Data struct {
	lines  []t4Line
	query  int // line whose value is asked
	onPath []bool
	steps  []string
	answer string
}

// NewT4 returns T4.
func NewT4() *T4 { return &T4{} }

// Name is "t4".
func (t *T4) Name() string { return "t4" }

// Generate makes a program of difficulty lines (clamped to 1..26).
func (t *T4) Generate(rng *rand.Rand, difficulty int) Problem {
	n := min(max(difficulty, 1), maxT4Lines)
	for {
		if d, ok := genT4(rng, n); ok {
			return Problem{Prompt: d.prompt(), Solution: joinTrace(d.steps, d.answer), Answer: d.answer, Difficulty: n, Data: d}
		}
	}
}

// genT4 draws one program; ok is false when some on-path line does not
// influence the answer (e.g. "b=a+4;d=b-a"), and the caller draws again.
func genT4(rng *rand.Rand, n int) (*t4Data, bool) {
	off := make([]bool, n)
	if n >= 3 {
		for _, i := range rng.Perm(n - 1)[:1+rng.IntN(n/3)] {
			off[i] = true
		}
	}
	d := &t4Data{query: n - 1}
	vals := make([]int, 0, n)
	var onLines []int // on-path lines so far
	num := func() t4Operand { return t4Operand{line: -1, num: 1 + rng.IntN(9)} }
	ref := func(i int) t4Operand { return t4Operand{line: i} }
	for i := range n {
		var ln t4Line
		switch {
		case !off[i] && len(onLines) == 0, off[i] && i == 0:
			ln = t4Line{x: num()}
		case !off[i]:
			// Chain on the previous on-path line, sometimes with an
			// earlier on-path line as second operand.
			prev := onLines[len(onLines)-1]
			y := num()
			if len(onLines) > 1 && rng.IntN(3) == 0 {
				y = ref(onLines[rng.IntN(len(onLines)-1)])
			}
			ln = pickT4Op(rng, ref(prev), y, vals)
		default:
			ln = pickT4Op(rng, ref(rng.IntN(i)), num(), vals)
		}
		ln.lhs = byte('a' + i)
		d.lines = append(d.lines, ln)
		vals = append(vals, ln.eval(vals))
		if !off[i] {
			onLines = append(onLines, i)
		}
	}
	d.finish()
	for i := range n {
		if d.onPath[i] != !off[i] {
			return nil, false
		}
		if d.onPath[i] {
			if _, ans := d.trace(i, vals[i]+1); ans == d.answer {
				return nil, false
			}
		}
	}
	return d, true
}

// pickT4Op picks x op y (operands possibly swapped) keeping the value in
// 0..maxT4Value; x is a line reference.
func pickT4Op(rng *rand.Rand, x, y t4Operand, vals []int) t4Line {
	var cands []t4Line
	for _, op := range []byte("+-*") {
		for _, sw := range []bool{false, true} {
			ln := t4Line{x: x, y: y, op: op}
			if sw {
				ln.x, ln.y = y, x
			}
			v := ln.eval(vals)
			if v < 0 || v > maxT4Value || op == '*' && !t4Scale(ln, vals) {
				continue
			}
			cands = append(cands, ln)
		}
	}
	if len(cands) == 0 {
		// Only when both are large: x-y with the larger first is >= 0.
		if x.value(vals) < y.value(vals) {
			x, y = y, x
		}
		return t4Line{x: x, y: y, op: '-'}
	}
	return cands[rng.IntN(len(cands))]
}

// t4Scale reports whether a product is a variable times a number >= 2 (so
// the program stays affine in every line's value, with non-zero factors).
func t4Scale(ln t4Line, vals []int) bool {
	if ln.x.line >= 0 && ln.y.line >= 0 || ln.x.value(vals) < 2 || ln.y.value(vals) < 2 {
		return false
	}
	return ln.x.line >= 0 || ln.y.line >= 0
}

// value is the operand's value given the values of earlier lines.
func (o t4Operand) value(vals []int) int {
	if o.line < 0 {
		return o.num
	}
	return vals[o.line]
}

// eval is the line's value given the values of earlier lines.
func (ln t4Line) eval(vals []int) int {
	x := ln.x.value(vals)
	if ln.op == 0 {
		return x
	}
	y := ln.y.value(vals)
	switch ln.op {
	case '+':
		return x + y
	case '-':
		return x - y
	}
	return x * y
}

// finish computes the query path and the canonical trace.
func (d *t4Data) finish() {
	d.onPath = make([]bool, len(d.lines))
	d.onPath[d.query] = true
	for i := d.query; i >= 0; i-- {
		if !d.onPath[i] {
			continue
		}
		ln := d.lines[i]
		if ln.x.line >= 0 {
			d.onPath[ln.x.line] = true
		}
		if ln.op != 0 && ln.y.line >= 0 {
			d.onPath[ln.y.line] = true
		}
	}
	d.steps, d.answer = d.trace(-1, 0)
}

// trace writes every line's value and the answer; when k >= 0 the value of
// line k is replaced by bad and later lines follow from it.
func (d *t4Data) trace(k, bad int) ([]string, string) {
	vals := make([]int, len(d.lines))
	steps := make([]string, len(d.lines))
	for i, ln := range d.lines {
		vals[i] = ln.eval(vals[:i])
		if i == k {
			vals[i] = bad
		}
		steps[i] = string(ln.lhs) + "=" + strconv.Itoa(vals[i])
	}
	return steps, strconv.Itoa(vals[d.query])
}

// prompt writes the program and the query.
func (d *t4Data) prompt() string {
	var b strings.Builder
	operand := func(o t4Operand) {
		if o.line < 0 {
			b.WriteString(strconv.Itoa(o.num))
		} else {
			b.WriteByte(d.lines[o.line].lhs)
		}
	}
	for _, ln := range d.lines {
		b.WriteByte(ln.lhs)
		b.WriteByte('=')
		operand(ln.x)
		if ln.op != 0 {
			b.WriteByte(ln.op)
			operand(ln.y)
		}
		b.WriteByte(';')
	}
	b.WriteByte('?')
	b.WriteByte(d.lines[d.query].lhs)
	return b.String()
}

// data returns the problem's parsed form.
func (t *T4) data(p Problem) (*t4Data, bool) {
	if d, ok := p.Data.(*t4Data); ok {
		return d, true
	}
	segs := strings.Split(p.Prompt, ";")
	if len(segs) < 2 || len(segs) > maxT4Lines+1 {
		return nil, false
	}
	d := &t4Data{}
	def := map[byte]int{} // variable -> latest defining line
	for _, s := range segs[:len(segs)-1] {
		if len(s) < 3 || !isVar(s[0]) || s[1] != '=' {
			return nil, false
		}
		ln := t4Line{lhs: s[0]}
		rhs := s[2:]
		operand := func(s string) (t4Operand, bool) {
			if len(s) == 1 && isVar(s[0]) {
				i, ok := def[s[0]]
				return t4Operand{line: i}, ok
			}
			n, ok := parseNat(s)
			return t4Operand{line: -1, num: n}, ok && len(s) <= 4
		}
		var ok bool
		if i := strings.IndexAny(rhs[1:], "+-*"); i >= 0 {
			ln.op = rhs[1+i]
			x, okx := operand(rhs[:1+i])
			y, oky := operand(rhs[2+i:])
			ln.x, ln.y, ok = x, y, okx && oky
		} else {
			ln.x, ok = operand(rhs)
		}
		if !ok {
			return nil, false
		}
		def[ln.lhs] = len(d.lines)
		d.lines = append(d.lines, ln)
	}
	q := segs[len(segs)-1]
	if len(q) != 2 || q[0] != '?' {
		return nil, false
	}
	var ok bool
	if d.query, ok = def[q[1]]; !ok {
		return nil, false
	}
	d.finish()
	return d, true
}

// isVar reports whether c is a variable name.
func isVar(c byte) bool { return c >= 'a' && c <= 'z' }

// OnPath reports, for every line of the program (so every step of the
// trace), whether the queried value depends on it. It is nil when the prompt
// does not parse.
func (t *T4) OnPath(p Problem) []bool {
	d, ok := t.data(p)
	if !ok {
		return nil
	}
	return append([]bool(nil), d.onPath...)
}

// Reward is 1 when the extracted answer is the queried value.
func (t *T4) Reward(p Problem, response string) float64 {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	return reward1(response, d.answer)
}

// WellFormed reports whether every step is "v=n" (v a letter, n an
// optionally negative number) and the answer a number.
func (t *T4) WellFormed(p Problem, response string) bool {
	return allWellFormed(response, func(s string) bool {
		return len(s) >= 3 && isVar(s[0]) && s[1] == '=' && isInt(s[2:])
	}, isInt)
}

// FirstWrongStep is the first line whose value differs from the unique
// canonical trace (see Task); an off-path line counts, although the
// outcome reward does not see it.
func (t *T4) FirstWrongStep(p Problem, response string) int {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	return firstDiff(response, d.steps, d.answer)
}

// InjectError gives line k a nearby wrong value and recomputes later lines
// from it. The answer is then wrong when line k is on the query path, and
// unchanged when it is off the path.
func (t *T4) InjectError(rng *rand.Rand, p Problem, k int) (string, bool) {
	d, ok := t.data(p)
	if !ok || k < 0 || k >= len(d.lines) {
		return "", false
	}
	vals := make([]int, k+1)
	for i := 0; i <= k; i++ {
		vals[i] = d.lines[i].eval(vals[:i])
	}
	right := vals[k]
	for range 32 {
		bad := right + smallDelta(rng, 9)
		if bad < 0 {
			bad = right - (bad - right) // mirror to stay non-negative
		}
		steps, ans := d.trace(k, bad)
		if d.onPath[k] == (ans != d.answer) {
			return joinTrace(steps, ans), true
		}
	}
	return "", false
}
