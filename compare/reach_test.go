package compare

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/train"
)

func TestTokensTo(t *testing.T) {
	c := []CurvePoint{{Tokens: 0, Accuracy: 0.3}, {Tokens: 100, Accuracy: 0.5}, {Tokens: 200, Accuracy: 0.4}, {Tokens: 300, Accuracy: 0.7}}
	for _, tc := range []struct {
		name          string
		target, limit float64
		want          float64
		ok            bool
	}{
		{"start already there", 0.2, 300, 0, true},
		{"interpolated on the first rise", 0.4, 300, 50, true},
		{"exact evaluation point", 0.5, 300, 100, true},
		{"first crossing, not a later one", 0.45, 300, 75, true},
		{"after the dip", 0.6, 300, 200 + 200.0/3, true},
		{"beyond the limit", 0.6, 200, 200 + 200.0/3, false},
		{"never", 0.8, 300, 0, false},
		{"own final at the limit (rounding)", accAt(c, 239.37), 239.37, 239.37, true},
	} {
		got, ok := tokensTo(c, tc.target, tc.limit)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: tokensTo(%v) = %v, %v; want %v, %v", tc.name, tc.target, got, ok, tc.want, tc.ok)
		}
	}
}

// reachRuns: grpo reaches its final accuracy at 100 tokens on seed 1 and
// 200 on seed 2; fast reaches it at half grpo's tokens on both seeds (and
// runs at twice grpo's time per step); slow misses it on seed 2.
func reachRuns() []RunResult {
	cp := func(xs ...float64) []CurvePoint {
		var c []CurvePoint
		for i := 0; i < len(xs); i += 2 {
			c = append(c, CurvePoint{Tokens: xs[i], Accuracy: xs[i+1]})
		}
		return c
	}
	att := train.Summary{train.KeyRLAttempted: 50.0}
	return []RunResult{
		{Task: "t1", Method: "grpo", Seed: 1, Curve: cp(0, 0.2, 100, 0.6, 200, 0.6), Steps: 10, StepSeconds: 10},
		{Task: "t1", Method: "grpo", Seed: 2, Curve: cp(0, 0.2, 100, 0.4, 200, 0.6), Steps: 10, StepSeconds: 20},
		{Task: "t1", Method: "fast", Seed: 1, Curve: cp(0, 0.2, 50, 0.6, 200, 0.7), Steps: 5, StepSeconds: 10, TooLong: 5, Summary: att},
		{Task: "t1", Method: "fast", Seed: 2, Curve: cp(0, 0.2, 100, 0.6, 200, 0.6), Steps: 5, StepSeconds: 20, Summary: att},
		{Task: "t1", Method: "slow", Seed: 1, Curve: cp(0, 0.2, 200, 0.6), Steps: 10, StepSeconds: 10},
		{Task: "t1", Method: "slow", Seed: 2, Curve: cp(0, 0.2, 200, 0.5), Steps: 10, StepSeconds: 20},
	}
}

func TestReachAll(t *testing.T) {
	rs := reachAll("t1", []string{"grpo", "fast", "slow"}, reachRuns(), 200)
	if len(rs) != 3 {
		t.Fatalf("%d rows, want 3", len(rs))
	}
	for _, tc := range []struct {
		i          int
		ratios     []float64
		notReached int
		wall       float64
	}{{0, []float64{1, 1}, 0, 1}, {1, []float64{0.5, 0.5}, 0, 2}, {2, []float64{2}, 1, 1}} {
		r := rs[tc.i]
		if r.NotReached != tc.notReached || len(r.Ratio) != len(tc.ratios) {
			t.Fatalf("%s: ratios %v, %d not reached; want %v, %d", r.Method, r.Ratio, r.NotReached, tc.ratios, tc.notReached)
		}
		for k := range tc.ratios {
			if math.Abs(r.Ratio[k]-tc.ratios[k]) > 1e-9 {
				t.Errorf("%s: ratio %v, want %v", r.Method, r.Ratio, tc.ratios)
			}
		}
		for _, w := range r.WallRatio {
			if math.Abs(w-tc.wall) > 1e-9 {
				t.Errorf("%s: wall ratios %v, want %v", r.Method, r.WallRatio, tc.wall)
			}
		}
	}
	if rs[2].Reached() || !rs[1].Reached() {
		t.Errorf("Reached: fast %v (want true), slow %v (want false)", rs[1].Reached(), rs[2].Reached())
	}
}

func TestReachTable(t *testing.T) {
	rows := []any{map[string]any{}, map[string]any{}, map[string]any{}}
	md := reachTable("t1", []string{"grpo", "fast", "slow"}, reachRuns(), 200, rows)
	for _, want := range []string{
		"| grpo | 1.000 ± 0.000 | 1: 1.00, 2: 1.00 | 1.000 ± 0.000 | — |",
		"| fast | 0.500 ± 0.000 | 1: 0.50, 2: 0.50 | 2.000 ± 0.000 | 5 (5.0 %) |",
		"| slow | 1/2 not reached | 1: 2.00, 2: — |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if _, ok := rows[2].(map[string]any)["tokens_to_reference_final_ratio"]; ok {
		t.Error("slow has a mean ratio in JSON although a seed did not reach")
	}
	if v := rows[1].(map[string]any)["tokens_to_reference_final_ratio"]; v != 0.5 {
		t.Errorf("fast's JSON ratio = %v, want 0.5", v)
	}
}

// TestReachUndefined: where the reference does not improve over Stage 0
// its own tokens are 0 and the seed has no ratio.
func TestReachUndefined(t *testing.T) {
	flat := []CurvePoint{{Tokens: 0, Accuracy: 0.5}, {Tokens: 100, Accuracy: 0.4}}
	runs := []RunResult{{Task: "t1", Method: "grpo", Seed: 1, Curve: flat}, {Task: "t1", Method: "x", Seed: 1, Curve: flat}}
	rs := reachAll("t1", []string{"grpo", "x"}, runs, 100)
	if rs[1].Undefined != 1 || len(rs[1].Ratio) != 0 || rs[1].Reached() {
		t.Errorf("undefined seed: %+v", rs[1])
	}
}

// TestPlotScales: the y axis spans the data, not 0-1, and the figure
// (bands, reference line, reach markers) is written.
func TestPlotScales(t *testing.T) {
	cfg := train.Defaults()
	cfg.Compare.Methods = []string{"grpo", "fast"}
	var runs []RunResult
	for seed := 1; seed <= 3; seed++ {
		d := 0.01 * float64(seed)
		runs = append(runs,
			RunResult{Task: "t1", Method: "grpo", Seed: seed, Curve: []CurvePoint{{0, 0, 0.4 + d}, {200, 0, 0.5 + d}}},
			RunResult{Task: "t1", Method: "fast", Seed: seed, Curve: []CurvePoint{{0, 0, 0.4 + d}, {100, 0, 0.55 + d}, {200, 0, 0.6 + d}}})
	}
	p, err := taskPlot("t1", cfg, runs, 200)
	if err != nil {
		t.Fatal(err)
	}
	// Seeds' accuracies in [0.41, 0.63]: the axis spans them with a margin.
	if p.Y.Min < 0.35 || p.Y.Min > 0.41 || p.Y.Max < 0.63 || p.Y.Max > 0.7 {
		t.Errorf("y axis [%v, %v] does not follow the data in [0.41, 0.63]", p.Y.Min, p.Y.Max)
	}
	if err := plotTask(filepath.Join(t.TempDir(), "t1.png"), "t1", cfg, reachRuns(), 200); err != nil {
		t.Fatal(err)
	}
}
