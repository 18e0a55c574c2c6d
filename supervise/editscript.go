package supervise

import (
	"errors"
	"fmt"
)

// OpKind is the kind of one edit operation.
type OpKind uint8

const (
	// Sub replaces y[I] by yb[J].
	Sub OpKind = iota + 1
	// Del deletes y[I]; J is the deletion point in yb (the yb index the
	// alignment has reached, i.e. yb[J] is the token yb emits instead).
	Del
	// Ins inserts yb[J]; I is the insertion point in y (y[I] is the token y
	// emits instead; I == len(y) when inserting at the end).
	Ins
)

// String returns "sub", "del" or "ins".
func (k OpKind) String() string {
	switch k {
	case Sub:
		return "sub"
	case Del:
		return "del"
	case Ins:
		return "ins"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one edit operation of a script turning y into yb. I indexes y (the
// substituted or deleted token, or the insertion point); J indexes yb (the
// substituting or inserted token, or the deletion point). Both are 0-based.
type Op struct {
	Kind OpKind
	I    int
	J    int
}

// EditScript is the minimal unit-cost edit script from y (length N) to yb
// (length M), ops ordered by position (I and J are both non-decreasing).
// Prefix is ℓ_p, the length of the longest common prefix; Suffix the length
// of the longest common suffix of the remainders.
type EditScript struct {
	Ops    []Op
	Prefix int
	Suffix int
	N, M   int
}

// Diff computes the edit script of METHOD.md §3.5.1: strip the longest common
// prefix and suffix, then run unit-cost Levenshtein on the middle parts with a
// backtrace that prefers match > substitution > deletion > insertion. The
// first op (if any) is at I = J = Prefix.
func Diff(y, yb []int32) EditScript {
	n, m := len(y), len(yb)
	p := LCP(y, yb)
	s := 0
	for s < n-p && s < m-p && y[n-1-s] == yb[m-1-s] {
		s++
	}
	es := EditScript{Prefix: p, Suffix: s, N: n, M: m}
	a, b := y[p:n-s], yb[p:m-s]
	la, lb := len(a), len(b)
	if la == 0 && lb == 0 {
		return es
	}
	// d[i*(lb+1)+j] = distance between a[:i] and b[:j].
	w := lb + 1
	d := make([]int32, (la+1)*w)
	for j := 0; j <= lb; j++ {
		d[j] = int32(j)
	}
	for i := 1; i <= la; i++ {
		row, prev := d[i*w:(i+1)*w], d[(i-1)*w:i*w]
		row[0] = int32(i)
		for j := 1; j <= lb; j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			if v := prev[j] + 1; v < c {
				c = v
			}
			if v := row[j-1] + 1; v < c {
				c = v
			}
			row[j] = c
		}
	}
	ops := make([]Op, 0, d[la*w+lb])
	i, j := la, lb
	for i > 0 || j > 0 {
		cur := d[i*w+j]
		switch {
		case i > 0 && j > 0 && a[i-1] == b[j-1] && cur == d[(i-1)*w+j-1]:
			i, j = i-1, j-1
		case i > 0 && j > 0 && cur == d[(i-1)*w+j-1]+1:
			i, j = i-1, j-1
			ops = append(ops, Op{Kind: Sub, I: p + i, J: p + j})
		case i > 0 && cur == d[(i-1)*w+j]+1:
			i--
			ops = append(ops, Op{Kind: Del, I: p + i, J: p + j})
		default:
			j--
			ops = append(ops, Op{Kind: Ins, I: p + i, J: p + j})
		}
	}
	for l, r := 0, len(ops)-1; l < r; l, r = l+1, r-1 {
		ops[l], ops[r] = ops[r], ops[l]
	}
	es.Ops = ops
	return es
}

// Len is |E|, the number of ops (the edit distance).
func (es EditScript) Len() int { return len(es.Ops) }

// NormDistance is Δ̄_edit = |E| / max(N, M) ∈ [0, 1] (0 for two empty
// sequences).
func (es EditScript) NormDistance() float64 {
	mx := max(es.N, es.M)
	if mx == 0 {
		return 0
	}
	return float64(len(es.Ops)) / float64(mx)
}

// FirstDivergence is t*, the 0-based index of the first differing token
// (= ℓ_p; METHOD.md's 1-based t* = ℓ_p + 1), so y[:t*] == yb[:t*]. It is -1
// when y == yb.
func (es EditScript) FirstDivergence() int {
	if len(es.Ops) == 0 {
		return -1
	}
	return es.Prefix
}

// Apply applies es to y, taking substituted and inserted tokens from yb, and
// returns the result (== yb for a script made by Diff(y, yb)). It checks that
// the ops are ordered and consistent with the lengths of y and yb.
func Apply(y []int32, es EditScript, yb []int32) ([]int32, error) {
	if es.N != len(y) || es.M != len(yb) {
		return nil, fmt.Errorf("supervise: script is for lengths %d→%d, got %d→%d", es.N, es.M, len(y), len(yb))
	}
	out := make([]int32, 0, len(yb))
	i := 0
	for k, op := range es.Ops {
		if op.I < i || op.I > len(y) || op.J < 0 || op.J > len(yb) {
			return nil, fmt.Errorf("supervise: op %d (%v I=%d J=%d) out of order or range", k, op.Kind, op.I, op.J)
		}
		out = append(out, y[i:op.I]...)
		i = op.I
		if op.J != len(out) {
			return nil, fmt.Errorf("supervise: op %d (%v) has J=%d, but %d tokens of yb are aligned before it", k, op.Kind, op.J, len(out))
		}
		switch op.Kind {
		case Sub:
			if op.I >= len(y) || op.J >= len(yb) {
				return nil, fmt.Errorf("supervise: sub op %d past the end", k)
			}
			out = append(out, yb[op.J])
			i++
		case Del:
			if op.I >= len(y) {
				return nil, fmt.Errorf("supervise: del op %d past the end", k)
			}
			i++
		case Ins:
			if op.J >= len(yb) {
				return nil, fmt.Errorf("supervise: ins op %d past the end", k)
			}
			out = append(out, yb[op.J])
		default:
			return nil, errors.New("supervise: unknown op kind")
		}
	}
	out = append(out, y[i:]...)
	return out, nil
}

// LCP is the length of the longest common prefix of a and b.
func LCP(a, b []int32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// Levenshtein is the plain unit-cost edit distance (two-row DP, no prefix or
// suffix stripping); the reference that Diff's |E| is tested against.
func Levenshtein(a, b []int32) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
