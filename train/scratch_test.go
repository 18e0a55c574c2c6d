package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
)

func TestScratchQuick(t *testing.T) {
	if os.Getenv("SIRL_SCRATCH") == "" {
		t.Skip()
	}
	c := Defaults()
	c.Task.MaxResponseLen = 48
	if v := os.Getenv("SFT_STEPS"); v != "" {
		c.SFT.Steps, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("RL_STEPS"); v != "" {
		c.RL.Steps, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("ALGO"); v != "" {
		c.RL.Algo = v
	}
	if v := os.Getenv("RL_LR"); v != "" {
		c.RL.Optim.LR, _ = strconv.ParseFloat(v, 64)
	}
	if v := os.Getenv("TASK"); v != "" {
		c.Task.Name = v
	}
	c.RL.EvalEvery = 10
	if v := os.Getenv("TMIN"); v != "" {
		c.Task.TrainMin, _ = strconv.Atoi(v)
		c.Task.TrainMax, _ = strconv.Atoi(os.Getenv("TMAX"))
		c.Task.HardMin, c.Task.HardMax = c.Task.TrainMax+1, c.Task.TrainMax+2
	}
	c.SFT.EvalEvery = 200
	if v := os.Getenv("JSONL"); v != "" {
		c.Task.Name, c.Task.TrainFile = "jsonl", v
		c.Task.Hard = 0
	}
	if v := os.Getenv("DIM"); v != "" {
		c.Model.Dim, _ = strconv.Atoi(v)
		c.Model.Layers, _ = strconv.Atoi(os.Getenv("LAYERS"))
		c.Model.FFN = c.Model.Dim * 8 / 3
	}
	if v := os.Getenv("BS"); v != "" {
		c.SFT.BatchSize, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("MOD"); v != "" {
		c.Task.Mod, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("SFT_LR"); v != "" {
		c.SFT.Optim.LR, _ = strconv.ParseFloat(v, 64)
	}
	sum, err := Run(context.Background(), cpu.New(2), c, Options{Out: "/tmp/scratch", Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(sum, "", " ")
	fmt.Println(string(b))
}

func TestScratchSamples(t *testing.T) {
	if os.Getenv("SIRL_SCRATCH") == "" {
		t.Skip()
	}
	c := Defaults()
	c.Task.Mod = 13
	c.Task.TrainMin, c.Task.TrainMax = 2, 4
	e := &env{ctx: context.Background(), cfg: c, be: cpu.New(2), state: &runState{Summary: Summary{}, Extra: map[string]string{}}}
	if err := e.setupTask(); err != nil {
		t.Fatal(err)
	}
	if err := e.setupModel("/tmp/scratch/final.safetensors", "", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range e.splits.HeldOut[:12] {
		out, _, _ := e.gen.Greedy([][]int32{tokenizerPolicy(e, p.Prompt)}, 48)
		fmt.Printf("%-22s want %-30s got %s\n", p.Prompt, p.Solution, e.tok.Decode(out[0].Tokens))
	}
}

func tokenizerPolicy(e *env, p string) []int32 { return e.policyContext(p) }

func TestScratchTF(t *testing.T) {
	if os.Getenv("SIRL_SCRATCH") == "" {
		t.Skip()
	}
	c := Defaults()
	c.Task.Mod = 13
	c.Task.TrainMin, c.Task.TrainMax = 2, 4
	e := &env{ctx: context.Background(), cfg: c, be: cpu.New(2), state: &runState{Summary: Summary{}, Extra: map[string]string{}}}
	if err := e.setupTask(); err != nil {
		t.Fatal(err)
	}
	if err := e.setupModel("/tmp/scratch/final.safetensors", "", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range e.splits.HeldOut[:6] {
		s := e.sftSeq(p)
		lp, _ := logpOf(e.m, []Seq{s})
		fmt.Printf("%s\n", p.Prompt)
		for j, tok := range s.Response {
			fmt.Printf("%s:%.2f ", e.tok.Decode([]int32{tok}), math.Exp(float64(lp[0][j])))
		}
		fmt.Println()
	}
}
