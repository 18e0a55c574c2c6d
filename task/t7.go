package task

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Bounds of T7.
const (
	minT7Numbers = 2
	maxT7Numbers = 8
	maxT7Value   = 999
)

// T7 is Countdown (METHOD.md §6): reach the target from the given numbers.
//
// Prompt: the numbers separated by spaces, then " =target": "3 7 25 50 =78".
// Trace: one equation "a op b=c" per step (op in + - * /), then the target:
// "50+25=75;75+3=78;#78". A response is correct when every equation is exact
// arithmetic on non-negative integers (division without remainder), each
// operand is a given number or an earlier result not used before (every
// number and result at most once), the last result is the target and the
// answer equals the target. Traces are not unique: "25+3=28;28+50=78;#78"
// is also correct.
//
// Difficulty is the count of numbers (clamped to 2..8). Each number is
// 1..10, or 25, 50, 75 or 100 with probability 1/4. The canonical solution
// combines all numbers (difficulty-1 steps); every intermediate value is in
// 1..999 and the target is none of the given numbers.
type T7 struct{}

// t7Data is a parsed T7 problem.
type t7Data struct {
	nums   []int
	target int
}

// NewT7 returns T7.
func NewT7() *T7 { return &T7{} }

// Name is "t7".
func (t *T7) Name() string { return "t7" }

// Generate makes a problem with difficulty numbers.
func (t *T7) Generate(rng *rand.Rand, difficulty int) Problem {
	n := min(max(difficulty, minT7Numbers), maxT7Numbers)
	for {
		d := &t7Data{nums: make([]int, n)}
		for i := range d.nums {
			if rng.IntN(4) == 0 {
				d.nums[i] = 25 * (1 + rng.IntN(4))
			} else {
				d.nums[i] = 1 + rng.IntN(10)
			}
		}
		steps, target := t7Construct(rng, d.nums)
		if slices.Contains(d.nums, target) {
			continue
		}
		d.target = target
		ans := strconv.Itoa(target)
		return Problem{Prompt: d.prompt(), Solution: joinTrace(steps, ans), Answer: ans, Difficulty: n, Data: d}
	}
}

// t7Construct combines all numbers by random valid operations, keeping
// every value in 1..maxT7Value, and returns the equations and the result.
func t7Construct(rng *rand.Rand, nums []int) ([]string, int) {
	pool := slices.Clone(nums)
	var steps []string
	for len(pool) > 1 {
		i := rng.IntN(len(pool))
		j := rng.IntN(len(pool) - 1)
		if j >= i {
			j++
		}
		a, b := pool[i], pool[j]
		if a < b {
			a, b = b, a
		}
		var cands []equation
		if a+b <= maxT7Value {
			cands = append(cands, equation{a: a, b: b, op: '+', c: a + b})
		}
		if a > b {
			cands = append(cands, equation{a: a, b: b, op: '-', c: a - b})
		}
		if b > 1 && a*b <= maxT7Value {
			cands = append(cands, equation{a: a, b: b, op: '*', c: a * b})
		}
		if b > 1 && a%b == 0 {
			cands = append(cands, equation{a: a, b: b, op: '/', c: a / b})
		}
		// cands is never empty: a+b fits unless a > b (then a-b) or
		// a == b > 1 (then a/b).
		e := cands[rng.IntN(len(cands))]
		steps = append(steps, e.String())
		pool[i] = e.c
		pool = slices.Delete(pool, j, j+1)
	}
	return steps, pool[0]
}

// prompt writes the numbers and the target.
func (d *t7Data) prompt() string {
	var b strings.Builder
	for _, x := range d.nums {
		b.WriteString(strconv.Itoa(x))
		b.WriteByte(' ')
	}
	b.WriteByte('=')
	b.WriteString(strconv.Itoa(d.target))
	return b.String()
}

// data returns the problem's parsed form.
func (t *T7) data(p Problem) (*t7Data, bool) {
	if d, ok := p.Data.(*t7Data); ok {
		return d, true
	}
	f := strings.Split(p.Prompt, " ")
	if len(f) < 2 || len(f) > 17 {
		return nil, false
	}
	d := &t7Data{}
	for _, s := range f[:len(f)-1] {
		x, ok := parseNat(s)
		if !ok || x > 1_000_000 {
			return nil, false
		}
		d.nums = append(d.nums, x)
	}
	last := f[len(f)-1]
	var ok bool
	if len(last) < 2 || last[0] != '=' {
		return nil, false
	}
	if d.target, ok = parseNat(last[1:]); !ok {
		return nil, false
	}
	return d, true
}

// apply is a op b when it is exact non-negative integer arithmetic.
func (e equation) apply() (int, bool) {
	switch e.op {
	case '+':
		return e.a + e.b, true
	case '-':
		return e.a - e.b, e.a >= e.b
	case '*':
		return e.a * e.b, true
	case '/':
		if e.b == 0 || e.a%e.b != 0 {
			return 0, false
		}
		return e.a / e.b, true
	}
	return 0, false
}

// check verifies the body steps in order: it returns the index of the first
// invalid equation (-1 if none) and the last result (ok false when there is
// no step).
func (d *t7Data) check(body []string) (bad, last int, ok bool) {
	avail := slices.Clone(d.nums)
	take := func(x int) bool {
		i := slices.Index(avail, x)
		if i < 0 {
			return false
		}
		avail = slices.Delete(avail, i, i+1)
		return true
	}
	for i, s := range body {
		e, ok := parseEquation(s, "+-*/")
		if !ok || !take(e.a) || !take(e.b) {
			return i, 0, false
		}
		if c, ok := e.apply(); !ok || c != e.c {
			return i, 0, false
		}
		avail = append(avail, e.c)
		last = e.c
	}
	return -1, last, len(body) > 0
}

// Reward is 1 when the response is a well-formed trace whose equations are
// all valid, whose last result is the target and whose answer is the target.
func (t *T7) Reward(p Problem, response string) float64 {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	steps, ans, ok := ParseTrace(response)
	if !ok {
		return 0
	}
	bad, last, ok := d.check(steps)
	if bad >= 0 || !ok || last != d.target || ans != strconv.Itoa(d.target) {
		return 0
	}
	return 1
}

// WellFormed reports whether every step is "a op b=c" (op + - * /) and the
// answer a number.
func (t *T7) WellFormed(p Problem, response string) bool {
	return allWellFormed(response, func(s string) bool {
		_, ok := parseEquation(s, "+-*/")
		return ok
	}, isNat)
}

// FirstWrongStep is the first invalid equation (unparsable, an operand not
// available, or wrong arithmetic); len(steps) when all are valid but the
// last result or the answer is not the target or the trace is malformed;
// -1 when the response is correct. Any correct solution gets -1.
func (t *T7) FirstWrongStep(p Problem, response string) int {
	d, ok := t.data(p)
	if !ok {
		return 0
	}
	body := BodySteps(response)
	bad, _, _ := d.check(body)
	if bad >= 0 {
		return bad
	}
	if t.Reward(p, response) != 1 {
		return len(body)
	}
	return -1
}

// t7Source says where an equation operand comes from: a given number or
// the result of an earlier equation.
type t7Source struct {
	eq  int // equation index, -1 for a given number
	num int
}

// InjectError replaces the result of equation k of the problem's solution
// by a nearby wrong value and recomputes every later equation that uses it,
// directly or not; the final result, so the answer, is then not the target.
// ok is false when k is out of range or no nearby value keeps the later
// equations exact (e.g. a division with remainder).
func (t *T7) InjectError(rng *rand.Rand, p Problem, k int) (string, bool) {
	d, ok := t.data(p)
	if !ok {
		return "", false
	}
	body, _, ok := ParseTrace(p.Solution)
	if !ok || k < 0 || k >= len(body) {
		return "", false
	}
	if bad, _, ok := d.check(body); bad >= 0 || !ok {
		return "", false
	}
	// Recover each operand's source, preferring the latest unused result
	// (any choice among equal values gives the same text).
	eqs := make([]equation, len(body))
	srcs := make([][2]t7Source, len(body))
	type item struct {
		src t7Source
		val int
	}
	var avail []item
	for _, x := range d.nums {
		avail = append(avail, item{src: t7Source{eq: -1, num: x}, val: x})
	}
	for i, s := range body {
		eqs[i], _ = parseEquation(s, "+-*/")
		for side, x := range []int{eqs[i].a, eqs[i].b} {
			j := len(avail) - 1
			for avail[j].val != x {
				j-- // found: d.check accepted the solution
			}
			srcs[i][side] = avail[j].src
			avail = slices.Delete(avail, j, j+1)
		}
		avail = append(avail, item{src: t7Source{eq: i}, val: eqs[i].c})
	}
	// A nearby value first; when later divisions or subtractions reject
	// those, the closest value that keeps every later equation exact.
	try := func(bad int) (string, bool) {
		if bad < 0 || bad == eqs[k].c {
			return "", false
		}
		return t7Rederive(eqs, srcs, k, bad, d.target)
	}
	for range 16 {
		if s, ok := try(eqs[k].c + smallDelta(rng, 5)); ok {
			return s, true
		}
	}
	for delta := 1; delta <= min(max(200, eqs[k].c), 2000); delta++ {
		for _, bad := range []int{eqs[k].c + delta, eqs[k].c - delta} {
			if s, ok := try(bad); ok {
				return s, true
			}
		}
	}
	return "", false
}

// t7Rederive rewrites the equations with the result of equation k replaced
// by bad and every later equation recomputed from its sources. ok is false
// when a recomputed equation is not exact or the final value is the target.
func t7Rederive(eqs []equation, srcs [][2]t7Source, k, bad, target int) (string, bool) {
	vals := make([]int, len(eqs))
	steps := make([]string, len(eqs))
	for i, e := range eqs {
		for side, s := range srcs[i] {
			v := s.num
			if s.eq >= 0 {
				v = vals[s.eq]
			}
			if side == 0 {
				e.a = v
			} else {
				e.b = v
			}
		}
		c, ok := e.apply()
		if i == k {
			c, ok = bad, true
		}
		if !ok || c >= 1_000_000_000 {
			return "", false
		}
		e.c, vals[i] = c, c
		steps[i] = e.String()
	}
	last := vals[len(vals)-1]
	if last == target {
		return "", false
	}
	return joinTrace(steps, strconv.Itoa(last)), true
}
