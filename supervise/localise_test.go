package supervise

import (
	"testing"

	"github.com/sirl-dev/sirl/task"
)

func TestStepsByDelimiterMatchesTaskSteps(t *testing.T) {
	for _, s := range []string{"3+5=8;8*2=16;#16", "a;b;#5", ";;x", "", "abc", "x;"} {
		stepOf := StepsByDelimiter(toks(s), task.StepDelim)
		steps := task.Steps(s)
		// Rebuild each step's text from the mapping (delimiters excluded).
		rebuilt := map[int]string{}
		for i := 0; i < len(s); i++ {
			if s[i] != task.StepDelim {
				rebuilt[stepOf(i)] += string(s[i])
			}
		}
		for k, st := range steps {
			if rebuilt[k] != st {
				t.Errorf("%q: step %d = %q, task.Steps says %q", s, k, rebuilt[k], st)
			}
		}
	}
}

func TestFirstGatedStepAndPrecision(t *testing.T) {
	y := toks("3+5=8;8*2=17;#17")
	stepOf := StepsByDelimiter(y, ';')
	cases := []struct {
		gate string
		want int
	}{
		{"0000000000000000", -1},
		{"0000000000001000", 1},
		{"0000000000000011", 2},
		{"1000000000000011", 0},
	}
	var p Precision
	for _, c := range cases {
		got := FirstGatedStep(mask(c.gate), stepOf)
		if got != c.want {
			t.Errorf("FirstGatedStep(%s) = %d, want %d", c.gate, got, c.want)
		}
		p.Add(got, 1)
	}
	p.Add(0, -1)
	if p.Hits != 1 || p.Total != 4 || p.Skipped != 1 || p.Value() != 0.25 {
		t.Fatalf("precision %+v value %v", p, p.Value())
	}
	p.Reset()
	if p.Value() != 0 || p.Total != 0 {
		t.Fatal("Reset did not clear")
	}
}
