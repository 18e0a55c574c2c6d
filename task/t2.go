package task

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// maxT2Digits bounds the operand length T2 accepts in a prompt.
const maxT2Digits = 64

// T2 is multi-digit addition with a column scratchpad (METHOD.md §6).
//
// Prompt: "4821+379". Trace: one step per column from the least significant,
// "x+y+carry_in=sum c carry_out" without spaces, then the sum:
// "1+9+0=10c1;2+7+1=10c1;8+3+1=12c1;4+0+1=5c0;#5200". A column past the end
// of the shorter operand reads digit 0. The trace is unique.
//
// Difficulty is the number of digits of the first operand (at least 1), so
// also the number of steps; the second operand has 1..difficulty digits.
// Neither operand has a leading zero.
type T2 struct{}

// t2Data is a parsed T2 problem: operand digits, least significant first.
type t2Data struct {
	x, y   []int
	steps  []string
	answer string
}

// NewT2 returns T2.
func NewT2() *T2 { return &T2{} }

// Name is "t2".
func (t *T2) Name() string { return "t2" }

// Generate makes an addition whose first operand has difficulty digits.
func (t *T2) Generate(rng *rand.Rand, difficulty int) Problem {
	n := max(difficulty, 1)
	d := &t2Data{x: randDigits(rng, n), y: randDigits(rng, 1+rng.IntN(n))}
	d.steps, d.answer = d.trace(-1, 0, 0)
	prompt := digitString(d.x) + "+" + digitString(d.y)
	return Problem{Prompt: prompt, Solution: joinTrace(d.steps, d.answer), Answer: d.answer, Difficulty: n, Data: d}
}

// randDigits is a random n-digit number without leading zero (0..9 for
// n = 1), least significant digit first.
func randDigits(rng *rand.Rand, n int) []int {
	ds := make([]int, n)
	for i := range ds {
		ds[i] = rng.IntN(10)
	}
	if n > 1 && ds[n-1] == 0 {
		ds[n-1] = 1 + rng.IntN(9)
	}
	return ds
}

// digitString writes least-significant-first digits as a decimal number.
func digitString(ds []int) string {
	b := make([]byte, len(ds))
	for i, d := range ds {
		b[len(ds)-1-i] = byte('0' + d)
	}
	return string(b)
}

// Kinds of T2 corruption.
const (
	t2WrongSum   = iota // the column sum is wrong (so its digit or carry)
	t2WrongCarry        // the carry out is flipped, the sum kept
	t2WrongDigit        // the first operand's digit is misread
	t2Kinds
)

// trace writes the column steps and the answer. When k >= 0, column k is
// corrupted by kind with value bad (the wrong sum, or the wrong digit) and
// later columns follow from the corrupted carry.
func (d *t2Data) trace(k, kind, bad int) ([]string, string) {
	n := max(len(d.x), len(d.y))
	steps := make([]string, n)
	digits := make([]int, 0, n+1)
	carry := 0
	for i := range n {
		a, b := digitAt(d.x, i), digitAt(d.y, i)
		if i == k && kind == t2WrongDigit {
			a = bad
		}
		s := a + b + carry
		if i == k && kind == t2WrongSum {
			s = bad
		}
		out := s / 10
		if i == k && kind == t2WrongCarry {
			out = 1 - out
		}
		steps[i] = fmt.Sprintf("%d+%d+%d=%dc%d", a, b, carry, s, out)
		digits = append(digits, s%10)
		carry = out
	}
	if carry > 0 {
		digits = append(digits, carry)
	}
	for len(digits) > 1 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	return steps, digitString(digits)
}

// digitAt is digit i (least significant first), 0 past the end.
func digitAt(ds []int, i int) int {
	if i < len(ds) {
		return ds[i]
	}
	return 0
}

// data returns the problem's parsed form.
func (t *T2) data(p Problem) (*t2Data, bool) {
	if d, ok := p.Data.(*t2Data); ok {
		return d, true
	}
	xs, ys, ok := strings.Cut(p.Prompt, "+")
	if !ok {
		return nil, false
	}
	d := &t2Data{}
	if d.x, ok = parseDigits(xs); !ok {
		return nil, false
	}
	if d.y, ok = parseDigits(ys); !ok {
		return nil, false
	}
	d.steps, d.answer = d.trace(-1, 0, 0)
	return d, true
}

// parseDigits reads a decimal number as least-significant-first digits.
func parseDigits(s string) ([]int, bool) {
	if len(s) == 0 || len(s) > maxT2Digits {
		return nil, false
	}
	ds := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, false
		}
		ds[len(s)-1-i] = int(s[i] - '0')
	}
	return ds, true
}

// Reward is 1 when the extracted answer is the sum.
func (t *T2) Reward(p Problem, response string) float64 {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	return reward1(response, d.answer)
}

// WellFormed reports whether every step is "x+y+c=s c o" (single digits x
// and y, carries c and o in {0, 1}, s in 0..19) and the answer a number.
func (t *T2) WellFormed(p Problem, response string) bool {
	return allWellFormed(response, t2Step, isDigits)
}

// isDigits reports whether s is a non-empty run of decimal digits (a sum of
// any length).
func isDigits(s string) bool {
	if len(s) == 0 || len(s) > maxT2Digits+1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// t2Step reports whether s is one column step.
func t2Step(s string) bool {
	// Shortest "1+2+0=3c0" (9 bytes), longest "9+9+1=19c1" (10 bytes).
	if len(s) != 9 && len(s) != 10 {
		return false
	}
	dig := func(c byte) bool { return c >= '0' && c <= '9' }
	bit := func(c byte) bool { return c == '0' || c == '1' }
	if !dig(s[0]) || s[1] != '+' || !dig(s[2]) || s[3] != '+' || !bit(s[4]) || s[5] != '=' {
		return false
	}
	sum := s[6 : len(s)-2]
	if len(sum) == 2 && (s[6] != '1' || !dig(s[7])) || len(sum) == 1 && !dig(s[6]) {
		return false
	}
	return s[len(s)-2] == 'c' && bit(s[len(s)-1])
}

// FirstWrongStep is the first column that differs from the unique canonical
// trace (see Task).
func (t *T2) FirstWrongStep(p Problem, response string) int {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	return firstDiff(response, d.steps, d.answer)
}

// InjectError corrupts column k (a wrong sum, a flipped carry or a misread
// digit, chosen at random) and recomputes later columns from it; the answer
// is then wrong.
func (t *T2) InjectError(rng *rand.Rand, p Problem, k int) (string, bool) {
	d, ok := t.data(p)
	if !ok || k < 0 || k >= max(len(d.x), len(d.y)) {
		return "", false
	}
	// The correct column sum at k.
	carry := 0
	for i := range k {
		carry = (digitAt(d.x, i) + digitAt(d.y, i) + carry) / 10
	}
	a := digitAt(d.x, k)
	sum := a + digitAt(d.y, k) + carry
	for range 32 {
		kind, bad := rng.IntN(t2Kinds), 0
		switch kind {
		case t2WrongSum:
			bad = sum + smallDelta(rng, 3)
			if bad < 0 || bad > 19 {
				continue
			}
		case t2WrongDigit:
			bad = (a + 1 + rng.IntN(9)) % 10
		}
		steps, ans := d.trace(k, kind, bad)
		if ans != d.answer {
			return joinTrace(steps, ans), true
		}
	}
	return "", false
}
