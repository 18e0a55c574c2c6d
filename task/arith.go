package task

import (
	"strings"
)

// arithLimit bounds every intermediate value of evalArith, so that no
// product overflows an int64.
const arithLimit = 1 << 40

// CheckArithStep is the "arith" step checker of the jsonl task
// (task.step_check): a step is an equation "e1=e2=...=v" of integer
// expressions (+ - * / % and parentheses, unary minus, spaces allowed) whose
// parts all evaluate to the same value; / and % are Go's truncated integer
// division and remainder, and dividing by zero fails. A step with no '=' or
// with a part that does not parse fails.
func CheckArithStep(step string) bool {
	parts := strings.Split(step, "=")
	if len(parts) < 2 {
		return false
	}
	want, ok := evalArith(parts[len(parts)-1])
	if !ok {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if v, ok := evalArith(p); !ok || v != want {
			return false
		}
	}
	return true
}

// evalArith evaluates an integer expression; ok is false when it does not
// parse, divides by zero or leaves the ±arithLimit range.
func evalArith(s string) (int64, bool) {
	p := arithParser{s: s}
	v, ok := p.expr()
	p.space()
	return v, ok && p.i == len(p.s)
}

// arithParser is a recursive-descent parser over s from position i.
type arithParser struct {
	s string
	i int
}

func (p *arithParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *arithParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func inRange(v int64) bool { return v > -arithLimit && v < arithLimit }

// expr := term (('+'|'-') term)*
func (p *arithParser) expr() (int64, bool) {
	v, ok := p.term()
	for ok {
		op := p.peek()
		if op != '+' && op != '-' {
			break
		}
		p.i++
		w, ok2 := p.term()
		if !ok2 {
			return 0, false
		}
		if op == '+' {
			v += w
		} else {
			v -= w
		}
		ok = inRange(v)
	}
	return v, ok
}

// term := unary (('*'|'/'|'%') unary)*
func (p *arithParser) term() (int64, bool) {
	v, ok := p.unary()
	for ok {
		op := p.peek()
		if op != '*' && op != '/' && op != '%' {
			break
		}
		p.i++
		w, ok2 := p.unary()
		if !ok2 {
			return 0, false
		}
		switch op {
		case '*':
			v *= w
		case '/', '%':
			if w == 0 {
				return 0, false
			}
			if op == '/' {
				v /= w
			} else {
				v %= w
			}
		}
		ok = inRange(v)
	}
	return v, ok
}

// unary := '-' unary | '(' expr ')' | number
func (p *arithParser) unary() (int64, bool) {
	switch c := p.peek(); {
	case c == '-':
		p.i++
		v, ok := p.unary()
		return -v, ok
	case c == '(':
		p.i++
		v, ok := p.expr()
		if !ok || p.peek() != ')' {
			return 0, false
		}
		p.i++
		return v, true
	case c >= '0' && c <= '9':
		start := p.i
		var v int64
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			v = v*10 + int64(p.s[p.i]-'0')
			p.i++
			if p.i-start > maxNumDigits {
				return 0, false
			}
		}
		return v, true
	}
	return 0, false
}
