package train

import (
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/task"
)

// TestScoreGreedy: the steps right before the first wrong one, on T1
// responses whose first error is at a known step.
func TestScoreGreedy(t *testing.T) {
	t1, err := task.NewT1(13)
	if err != nil {
		t.Fatal(err)
	}
	p := t1.Generate(rand.New(rand.NewPCG(1, 2)), 4)
	steps := task.Steps(p.Solution)
	if len(steps) != 5 { // 4 equations and the answer span
		t.Fatalf("trace %q: %d steps, want 5", p.Solution, len(steps))
	}
	wrongAt := func(k int) string {
		bad, ok := t1.InjectError(rand.New(rand.NewPCG(3, uint64(k))), p, k)
		if !ok {
			t.Fatalf("inject at %d failed", k)
		}
		return bad
	}
	for _, c := range []struct {
		name  string
		text  string
		ok    bool
		right float64
	}{
		{"correct", p.Solution, true, 5},
		{"first step wrong", wrongAt(0), false, 0},
		{"third step wrong", wrongAt(2), false, 2},
		{"garbage", "x", false, 0},
	} {
		ok, right, n := scoreGreedy(t1, p, c.text)
		if ok != c.ok || right != c.right || n != 5 {
			t.Errorf("%s (%q): got (%v, %v, %v), want (%v, %v, 5)", c.name, c.text, ok, right, n, c.ok, c.right)
		}
	}
}
