// Command recurrence writes a recurrence-style JSONL data set for the
// `jsonl` task: x_{k+1} = (a·x_k + b) mod m, one step per iteration, each
// step computed from the previous step's result, so that an early wrong
// value propagates to the answer. The reference trace is unique, so the
// jsonl task's generic oracle (first step that differs from the reference)
// is exact on it.
//
//	go run ./scripts/recurrence -out /tmp/rec -seed 1
//
// writes train.jsonl, test.jsonl and hard.jsonl under -out. A problem reads
// "x=4 (x*3+5)%7 n=2" and its solution "4*3=12;12+5=17;17%7=3;3*3=9;9+5=14;14%7=0;#0".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// problem is one JSONL record.
type problem struct {
	Prompt   string `json:"prompt"`
	Solution string `json:"solution"`
	Answer   string `json:"answer"`
}

// gen draws one problem with n iterations modulo m.
func gen(rng *rand.Rand, m, n int) problem {
	x0 := rng.IntN(m)
	x := x0
	a := 2 + rng.IntN(m-2)
	b := 1 + rng.IntN(m-1)
	var steps []string
	for range n {
		p, q := a*x, a*x+b
		y := q % m
		steps = append(steps, fmt.Sprintf("%d*%d=%d", x, a, p), fmt.Sprintf("%d+%d=%d", p, b, q), fmt.Sprintf("%d%%%d=%d", q, m, y))
		x = y
	}
	prompt := fmt.Sprintf("x=%d (x*%d+%d)%%%d n=%d", x0, a, b, m, n)
	ans := fmt.Sprint(x)
	return problem{Prompt: prompt, Solution: strings.Join(steps, ";") + ";#" + ans, Answer: ans}
}

func write(path string, ps []problem) error {
	var b strings.Builder
	for _, p := range ps {
		line, err := json.Marshal(p)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func main() {
	out := flag.String("out", "recurrence", "output folder")
	seed := flag.Uint64("seed", 1, "random seed")
	mod := flag.Int("mod", 7, "modulus m")
	minN := flag.Int("min", 2, "fewest iterations (train and test)")
	maxN := flag.Int("max", 3, "most iterations (train and test)")
	hardN := flag.Int("hard", 4, "iterations of the hard split")
	nTrain := flag.Int("train", 4000, "training problems")
	nTest := flag.Int("test", 200, "held-out problems (test and hard each)")
	flag.Parse()
	if *mod < 3 || *minN < 1 || *maxN < *minN {
		fmt.Fprintln(os.Stderr, "recurrence: need -mod >= 3 and 1 <= -min <= -max")
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(*seed, 0x7ec))
	draw := func(k, lo, hi int) []problem {
		ps := make([]problem, k)
		for i := range ps {
			ps[i] = gen(rng, *mod, lo+rng.IntN(hi-lo+1))
		}
		return ps
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "recurrence:", err)
		os.Exit(1)
	}
	for _, f := range []struct {
		name string
		ps   []problem
	}{
		{"train.jsonl", draw(*nTrain, *minN, *maxN)},
		{"test.jsonl", draw(*nTest, *minN, *maxN)},
		{"hard.jsonl", draw(*nTest, *hardN, *hardN)},
	} {
		if err := write(filepath.Join(*out, f.name), f.ps); err != nil {
			fmt.Fprintln(os.Stderr, "recurrence:", err)
			os.Exit(1)
		}
	}
}
