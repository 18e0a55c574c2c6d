package train

import (
	"context"
	"encoding/json"
	"fmt"
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
	c.SFT.EvalEvery = 50
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
