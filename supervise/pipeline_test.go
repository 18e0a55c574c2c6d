package supervise

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// chain renders a T1-style trace "a op b=c;...;#c" (mod 97). If wrong ≥ 0,
// the result of step wrong (0-based) is off by delta and later steps are
// re-derived from it, as the task's error injector does.
func chain(start int, ops []int, wrong, delta int) string {
	var sb strings.Builder
	v := start
	for k, o := range ops {
		nv := (v + o) % 97
		if k == wrong {
			nv = (nv + delta) % 97
		}
		fmt.Fprintf(&sb, "%d+%d=%d;", v, o, nv)
		v = nv
	}
	fmt.Fprintf(&sb, "#%d", v)
	return sb.String()
}

// The repair and sibling variants end to end on a unique-trace chain task:
// the first gated step is the planted wrong step, the truncation keeps only
// the first fix when the (stub) greedy policy completes from there, and the
// signs and weights are as specified.
func TestPipelineRepairVariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	var prec Precision
	for it := 0; it < 300; it++ {
		n := 2 + rng.IntN(6)
		ops := make([]int, n)
		for i := range ops {
			ops[i] = 1 + rng.IntN(90)
		}
		start, wrong := rng.IntN(97), rng.IntN(n)
		ys := chain(start, ops, wrong, 1+rng.IntN(5))
		ybs := chain(start, ops, -1, 0)
		y, yb := toks(ys), toks(ybs)
		es := Diff(y, yb)
		in := auditInput("", ys, ybs)
		if ok, rule := Audit(in, DefaultAuditConfig()); !ok {
			t.Fatalf("%q→%q rejected by %s", ys, ybs, rule)
		}
		best, _ := SelectRepair([]Candidate{
			{Audit: false, Reward: 1, Dist: 0},
			{Audit: true, Reward: 1, Dist: es.NormDistance()},
		}, SelectConfig{LambdaEdit: 0.5})
		if best != 1 {
			t.Fatalf("selected %d", best)
		}
		// Stub greedy policy: from any repair prefix that contains the first
		// fix, it finishes the chain correctly.
		verify := func(k int) (bool, error) { return RepairPrefixLen(es.Ops, k, len(yb)) > es.Prefix, nil }
		ks, _, err := Truncate(es.Ops, in.AnswerStartY, in.AnswerStartYb, 1, verify)
		if err != nil {
			t.Fatal(err)
		}
		if c := CountedOps(es.Ops, in.AnswerStartY, in.AnswerStartYb); c > 1 && ks != 1 {
			t.Fatalf("K* = %d with %d counted ops", ks, c)
		}
		stepY, stepYb := StepsByDelimiter(y, ';'), StepsByDelimiter(yb, ';')
		f, r, err := BuildPair("", y, yb, es, ks, GateConfig{Scope: ScopeOps, StepOfY: stepY, StepOfYb: stepYb}, DefaultAdvConfig())
		if err != nil {
			t.Fatal(err)
		}
		prec.Add(FirstGatedStep(f.Gate, stepY), wrong)
		if FirstGatedStep(r.Gate, stepYb) != wrong {
			t.Fatalf("repaired side first gated step %d, planted %d", FirstGatedStep(r.Gate, stepYb), wrong)
		}
		// Sibling variant: the correct sibling is the canonical trace.
		idx, tStar := Sibling(y, [][]int32{toks(chain(start, ops, -1, 0))}, rng)
		if idx != 0 || tStar != es.FirstDivergence() || stepY(tStar) != wrong {
			t.Fatalf("sibling: idx %d t* %d (step %d), planted step %d", idx, tStar, stepY(tStar), wrong)
		}
		w, err := TokenWeights(AggSeqMeanActive, []int{len(y), len(yb)}, [][]float32{f.Gate, r.Gate}, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range w {
			if s := sum(row); s < 0.4999 || s > 0.5001 {
				t.Fatalf("seq_mean_active weights of a pair sum to %v per sequence, want 1/|B|", s)
			}
		}
	}
	if prec.Value() != 1 {
		t.Fatalf("localisation precision %v on a unique-trace task, want 1", prec.Value())
	}
}

// The mc variant end to end: an oracle chain probe, then MCGated.
func TestPipelineMCVariant(t *testing.T) {
	ops := []int{5, 7, 11, 13, 17, 19}
	for wrong := 0; wrong < len(ops); wrong++ {
		y := toks(chain(3, ops, wrong, 2))
		stepOf := StepsByDelimiter(y, ';')
		S := len(ops) + 1 // steps plus the answer step
		probe := func(k int) (float64, []Continuation, error) {
			if k <= wrong { // prefix through k steps is still right
				return 1, []Continuation{{Tokens: y[StepBoundary(len(y), stepOf, k):], Reward: 1}}, nil
			}
			return 0, nil, nil
		}
		res, err := Bisect(S, 0.5, probe, BisectConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if res.E-1 != wrong {
			t.Fatalf("bisection found step %d (1-based), planted %d (0-based)", res.E, wrong)
		}
		out, err := MCGated("", y, stepOf, res.E, res.VPrev, res.Conts)
		if err != nil {
			t.Fatal(err)
		}
		if FirstGatedStep(out[0].Gate, stepOf) != wrong || out[0].Adv[StepBoundary(len(y), stepOf, wrong)] >= 0 {
			t.Fatalf("failed side gated at step %d", FirstGatedStep(out[0].Gate, stepOf))
		}
	}
}
