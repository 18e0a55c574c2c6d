package task

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// DefaultMod is T1's default modulus.
const DefaultMod = 97

// T1 is the running arithmetic chain modulo m (METHOD.md §6).
//
// Prompt: the first operand, then one " op arg" per operation, then " %m":
// "3 +5 *2 -7 %97". The chain is applied left to right and every value is
// reduced into [0, m). Trace: one equation per operation, left operand the
// running value, then the answer: "3+5=8;8*2=16;16-7=9;#9".
//
// Difficulty is the number of operations (at least 1). The first operand is
// in 0..9, every argument in 1..9 and operations are + - *; a multiplier is
// always coprime with m, so each step is a bijection modulo m and a wrong
// intermediate value always gives a wrong answer (the trace is unique).
type T1 struct {
	mod   int
	arith bool // task.step_check arith: CheckSteps is on
}

// t1Data is a parsed T1 problem with its canonical trace.
type t1Data struct {
	first, mod int
	ops        []byte
	args       []int
	steps      []string
	answer     string
}

// NewT1 returns T1 with modulus mod; 0 means DefaultMod. mod must be in
// [2, 1e6].
func NewT1(mod int) (*T1, error) {
	if mod == 0 {
		mod = DefaultMod
	}
	if mod < 2 || mod > 1_000_000 {
		return nil, fmt.Errorf("task t1: modulus %d out of range [2, 1000000]", mod)
	}
	return &T1{mod: mod}, nil
}

// Name is "t1".
func (t *T1) Name() string { return "t1" }

// Mod is the modulus new problems use.
func (t *T1) Mod() int { return t.mod }

// Generate makes a chain of difficulty operations (at least 1).
func (t *T1) Generate(rng *rand.Rand, difficulty int) Problem {
	n := max(difficulty, 1)
	d := &t1Data{first: rng.IntN(10), mod: t.mod}
	for range n {
		op := "+-*"[rng.IntN(3)]
		arg := 1 + rng.IntN(9)
		for op == '*' && gcd(arg, t.mod) != 1 {
			arg = 1 + rng.IntN(9)
		}
		d.ops = append(d.ops, op)
		d.args = append(d.args, arg)
	}
	d.derive()
	var b strings.Builder
	b.WriteString(strconv.Itoa(d.first))
	for i, op := range d.ops {
		fmt.Fprintf(&b, " %c%d", op, d.args[i])
	}
	fmt.Fprintf(&b, " %%%d", d.mod)
	return Problem{Prompt: b.String(), Solution: joinTrace(d.steps, d.answer), Answer: d.answer, Difficulty: n, Data: d}
}

// derive fills the canonical steps and answer.
func (d *t1Data) derive() {
	d.steps, d.answer = d.trace(-1, -1, 0)
}

// trace writes the chain's steps and answer. At step k (when k >= 0) a
// positive arg replaces the prompt's argument (a miscopied operand, computed
// with), and a non-negative bad replaces the result (already reduced); later
// steps follow from step k's value.
func (d *t1Data) trace(k, bad, arg int) ([]string, string) {
	cur := d.first % d.mod
	steps := make([]string, len(d.ops))
	for i, op := range d.ops {
		b := d.args[i]
		if i == k && arg > 0 {
			b = arg
		}
		v := applyMod(cur, op, b, d.mod)
		if i == k && bad >= 0 {
			v = bad
		}
		steps[i] = equation{a: cur, op: op, b: b, c: v}.String()
		cur = v
	}
	return steps, strconv.Itoa(cur)
}

// applyMod is a op b reduced into [0, m).
func applyMod(a int, op byte, b, m int) int {
	var v int
	switch op {
	case '+':
		v = a + b
	case '-':
		v = a - b
	default:
		v = a * b
	}
	v %= m
	if v < 0 {
		v += m
	}
	return v
}

// gcd is the greatest common divisor of two non-negative numbers.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// data returns the problem's parsed form, parsing the prompt when the
// problem did not come from Generate.
func (t *T1) data(p Problem) (*t1Data, bool) {
	if d, ok := p.Data.(*t1Data); ok {
		return d, true
	}
	f := strings.Split(p.Prompt, " ")
	if len(f) < 3 {
		return nil, false
	}
	d := &t1Data{}
	var ok bool
	if d.first, ok = parseNat(f[0]); !ok {
		return nil, false
	}
	last := f[len(f)-1]
	if len(last) < 2 || last[0] != '%' {
		return nil, false
	}
	if d.mod, ok = parseNat(last[1:]); !ok || d.mod < 2 || d.mod > 1_000_000 {
		return nil, false
	}
	for _, s := range f[1 : len(f)-1] {
		if len(s) < 2 || strings.IndexByte("+-*", s[0]) < 0 {
			return nil, false
		}
		arg, ok := parseNat(s[1:])
		if !ok || arg > 1_000_000 {
			return nil, false
		}
		d.ops = append(d.ops, s[0])
		d.args = append(d.args, arg)
	}
	d.derive()
	return d, true
}

// Reward is 1 when the extracted answer is the chain's value.
func (t *T1) Reward(p Problem, response string) float64 {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	return reward1(response, d.answer)
}

// WellFormed reports whether every step is "a op b=c" (op + - *) and the
// answer a number.
func (t *T1) WellFormed(p Problem, response string) bool {
	return allWellFormed(response, func(s string) bool {
		_, ok := parseEquation(s, "+-*")
		return ok
	}, isNat)
}

// SetStepCheck sets task.step_check for T1: "" (none) or "arith", which
// makes CheckSteps check every step's arithmetic modulo the problem's
// modulus (the method's audit then rejects repairs and anchors with a step
// that does not hold).
func (t *T1) SetStepCheck(value string) error {
	c, err := ParseStepCheck(value)
	if err != nil {
		return err
	}
	if c.Form {
		return fmt.Errorf("task.step_check: t1 takes arith only (%q)", value)
	}
	t.arith = c.Arith
	return nil
}

// CheckSteps is T1's step checker (task.step_check: arith; true when it is
// off): every step "a op b=c" has c = a op b reduced into [0, m) for the
// problem's modulus m. It reads no reference trace, so a miscopied operand
// computed correctly passes; wrong arithmetic does not.
func (t *T1) CheckSteps(p Problem, response string) bool {
	if !t.arith {
		return true
	}
	d, ok := t.data(p)
	if !ok {
		return false
	}
	return stepsHold(response, func(s string) bool {
		e, ok := parseEquation(s, "+-*")
		return ok && e.c == applyMod(e.a, e.op, e.b, d.mod)
	})
}

// FirstWrongStep is the first step that differs from the unique canonical
// trace (see Task).
func (t *T1) FirstWrongStep(p Problem, response string) int {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	return firstDiff(response, d.steps, d.answer)
}

// InjectError corrupts step k with one of the two errors a T1 model makes,
// chosen at random: a wrong result (a nearby wrong value mod m) or a
// miscopied argument (another digit 1..9, computed with); every later step
// is recomputed from step k's value, so the answer is wrong.
func (t *T1) InjectError(rng *rand.Rand, p Problem, k int) (string, bool) {
	d, ok := t.data(p)
	if !ok || k < 0 || k >= len(d.ops) {
		return "", false
	}
	right := d.first % d.mod
	for i := 0; i <= k; i++ {
		right = applyMod(right, d.ops[i], d.args[i], d.mod)
	}
	for range 32 {
		bad, arg := -1, 0
		if rng.IntN(2) == 0 {
			bad = ((right+smallDelta(rng, min(9, d.mod-1)))%d.mod + d.mod) % d.mod
			if bad == right {
				continue
			}
		} else if arg = 1 + rng.IntN(9); arg == d.args[k] {
			continue
		}
		steps, ans := d.trace(k, bad, arg)
		if ans != d.answer {
			return joinTrace(steps, ans), true
		}
	}
	return "", false
}
