package train

import (
	"math"
	"testing"
)

func TestCurveInterpolationAndAUC(t *testing.T) {
	c := []CurvePoint{{Tokens: 0, Accuracy: 0.2}, {Tokens: 50, Accuracy: 0.4}, {Tokens: 100, Accuracy: 0.4}}
	for _, tc := range []struct{ tok, want float64 }{{0, 0.2}, {25, 0.3}, {50, 0.4}, {75, 0.4}, {200, 0.4}} {
		if got := accAt(c, tc.tok); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("accAt(%v) = %v, want %v", tc.tok, got, tc.want)
		}
	}
	// Area: 0.5·(0.2+0.4)/2 + 0.5·0.4 = 0.35.
	if got := auc(c, 100); math.Abs(got-0.35) > 1e-9 {
		t.Errorf("auc = %v, want 0.35", got)
	}
	m, h := meanCI([]float64{0.1, 0.2, 0.3})
	// t(0.975, 2) = 4.3027; sd = 0.1; half-width = 4.3027·0.1/√3.
	if math.Abs(m-0.2) > 1e-12 || math.Abs(h-4.302652729749464*0.1/math.Sqrt(3)) > 1e-6 {
		t.Errorf("meanCI = %v ± %v", m, h)
	}
}
