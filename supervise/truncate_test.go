package supervise

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// subs returns n ordered substitution ops.
func subs(n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = Op{Kind: Sub, I: 2 * i, J: 2 * i}
	}
	return ops
}

func TestTruncate(t *testing.T) {
	errBoom := errors.New("boom")
	cases := []struct {
		name     string
		nOps     int
		aY, aYb  int // answer span start (op index*2 scale)
		K        int
		verified map[int]bool
		verr     error
		kstar    int
		calls    []int
		wantErr  bool
	}{
		{"off", 20, -1, -1, 0, nil, nil, 20, nil, false},
		{"fits", 8, -1, -1, 8, nil, nil, 8, nil, false},
		{"answer ops do not count", 11, 16, 16, 8, nil, nil, 11, nil, false},
		{"K verifies", 20, -1, -1, 8, map[int]bool{8: true}, nil, 8, []int{8}, false},
		{"2K verifies", 20, -1, -1, 8, map[int]bool{16: true}, nil, 16, []int{8, 16}, false},
		{"none verifies", 20, -1, -1, 8, nil, nil, 20, []int{8, 16}, false},
		{"2K below counted ops", 12, 20, 20, 4, map[int]bool{8: true}, nil, 8, []int{4, 8}, false},
		{"2K fails, answer ops gated too", 12, 20, 20, 4, map[int]bool{10: true}, nil, 12, []int{4, 8}, false},
		{"2K capped, verified", 12, 14, 14, 4, map[int]bool{7: true}, nil, 7, []int{4, 7}, false},
		{"verify error", 20, -1, -1, 8, nil, errBoom, 0, []int{8}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []int
			verify := func(k int) (bool, error) {
				calls = append(calls, k)
				return c.verified[k], c.verr
			}
			ks, checks, err := Truncate(subs(c.nOps), c.aY, c.aYb, c.K, verify)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if c.wantErr {
				if !errors.Is(err, errBoom) {
					t.Fatalf("error %v does not wrap the verify error", err)
				}
				return
			}
			if ks != c.kstar || checks != len(c.calls) || !slices.Equal(calls, c.calls) {
				t.Fatalf("K*=%d checks=%d calls=%v, want %d %d %v", ks, checks, calls, c.kstar, len(c.calls), c.calls)
			}
		})
	}
}

func TestTruncateRejectsUnorderedScript(t *testing.T) {
	ops := []Op{{Sub, 5, 5}, {Sub, 1, 1}}
	if _, _, err := Truncate(ops, 3, 3, 1, func(int) (bool, error) { return true, nil }); err == nil {
		t.Fatal("unordered script accepted")
	}
}

// RepairPrefixLen's prefix of yb holds every ȳ token gated by the first k
// ops, and no ȳ token of a later op that an earlier op does not also gate.
func TestRepairPrefixLen(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for it := 0; it < 2000; it++ {
		y, yb := randPair(rng)
		es := Diff(y, yb)
		for k := 0; k <= len(es.Ops); k++ {
			L := RepairPrefixLen(es.Ops, k, len(yb))
			if L < 0 || L > len(yb) {
				t.Fatalf("prefix length %d out of range", L)
			}
			_, g, err := Gates(es, k, GateConfig{Scope: ScopeOps})
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range g {
				if v != 0 && j >= L {
					t.Fatalf("gated ȳ token %d outside prefix %d (k=%d, ops %v)", j, L, k, es.Ops)
				}
			}
			for _, op := range es.Ops[k:] {
				if op.Kind != Del && op.J < L && g[op.J] == 0 {
					t.Fatalf("later op %v inside prefix %d (k=%d)", op, L, k)
				}
			}
		}
	}
}
