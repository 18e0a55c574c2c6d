package train

import (
	"path/filepath"
	"testing"
)

// TestRunEqualsStagesFromCheckpoint: `run` with stages sft → rl in one
// process ends bitwise equal to sft, then rl from its final checkpoint (a
// file without AdamW moments): the RL stage must not inherit SFT's moments
// while restarting the bias correction at update 0.
func TestRunEqualsStagesFromCheckpoint(t *testing.T) {
	c := tinyConfig()
	c.Task.TrainMin, c.Task.TrainMax, c.Task.Mod = 1, 1, 11
	c.SFT.Steps, c.SFT.BatchSize = 60, 16
	c.SFT.Optim.LR, c.SFT.Optim.WarmupSteps = 3e-3, 2
	c.RL.Steps = 3
	both := t.TempDir()
	c.Stages = []string{"sft", "rl"}
	runTiny(t, c, both, Options{})

	sftDir, rlDir := t.TempDir(), t.TempDir()
	c.Stages = []string{"sft"}
	runTiny(t, c, sftDir, Options{})
	c.Stages = []string{"rl"}
	runTiny(t, c, rlDir, Options{Checkpoint: filepath.Join(sftDir, "final.safetensors")})

	sameWeights(t, weightsOf(t, filepath.Join(both, "final.safetensors")), weightsOf(t, filepath.Join(rlDir, "final.safetensors")))
}
