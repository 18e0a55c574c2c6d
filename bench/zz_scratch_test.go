package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/task"
)

func TestZZScratch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"t1", "t2", "t4"} {
		tk, _ := task.New(name, task.Options{Mod: 97})
		for _, d := range []int{2, 4, 6, 8} {
			mp, ms := 0, 0
			for i := 0; i < 200; i++ {
				p := tk.Generate(rng, d)
				mp = max(mp, len(p.Prompt))
				ms = max(ms, len(p.Solution))
				if i == 0 {
					fmt.Printf("%s d%d: %q -> %q\n", name, d, p.Prompt, p.Solution)
				}
			}
			fmt.Printf("%s d%d max prompt %d max solution %d\n", name, d, mp, ms)
		}
	}
}
