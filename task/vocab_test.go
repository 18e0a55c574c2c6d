package task

import (
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/tokenizer"
)

// TestVocabularyCoversTasks checks that every character a task generator or
// error injector produces is in the character vocabulary and round-trips.
func TestVocabularyCoversTasks(t *testing.T) {
	tok := tokenizer.NewChar()
	n := 2000
	if testing.Short() {
		n = 300
	}
	for _, tc := range generated(t) {
		rng := rand.New(rand.NewPCG(12, 12))
		for i := range n {
			d := tc.lo + i%(tc.hi-tc.lo+3) // a little past the training range
			p := tc.task.Generate(rng, d)
			texts := []string{p.Prompt + p.Solution}
			if bad, ok := tc.task.InjectError(rng, p, rng.IntN(len(BodySteps(p.Solution)))); ok {
				texts = append(texts, bad)
			}
			for _, s := range texts {
				ids, err := tok.EncodeChecked(s)
				if err != nil {
					t.Fatalf("%s: %q: %v", tc.task.Name(), s, err)
				}
				if got := tok.Decode(ids); got != s {
					t.Fatalf("%s: Decode(Encode(%q)) = %q", tc.task.Name(), s, got)
				}
			}
		}
	}
}
