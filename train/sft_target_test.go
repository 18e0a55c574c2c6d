package train

import (
	"path/filepath"
	"testing"
)

func TestTargetsReached(t *testing.T) {
	cases := []struct {
		name           string
		target, repTgt float64
		policy, repair float64
		want           bool
	}{
		{"no target", 0, 0, 0.9, 0.9, false},
		{"policy below", 0.5, 0, 0.49, -1, false},
		{"policy met", 0.5, 0, 0.5, -1, true},
		{"policy met, repair below", 0.5, 0.8, 0.6, 0.7, false},
		{"both met", 0.5, 0.8, 0.6, 0.8, true},
		{"repair not evaluated", 0.5, 0.8, 0.6, -1, false},
		{"repair target only", 0, 0.8, 0.1, 0.9, true},
	}
	for _, tc := range cases {
		c := SFTConfig{TargetAccuracy: tc.target, TargetRepairAccuracy: tc.repTgt}
		if got := targetsReached(c, tc.policy, tc.repair); got != tc.want {
			t.Errorf("%s: targetsReached = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestStage0Targets: Stage 0 with the repair cold start evaluates both
// modes every eval_every steps and stops at the first evaluation that meets
// the targets, or runs every step when none does (one case of each).
func TestStage0Targets(t *testing.T) {
	cases := []struct {
		name           string
		policy, repair float64
		wantEarly      bool
	}{
		{"policy target met", 0.1, 0, true},
		{"repair target not met", 0.1, 0.5, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig()
			c.Task.TrainMin, c.Task.TrainMax, c.Task.Mod = 1, 1, 11
			c.SFT.Steps, c.SFT.BatchSize, c.SFT.EvalEvery = 120, 16, 20
			c.SFT.Optim.LR, c.SFT.Optim.WarmupSteps = 3e-3, 2
			c.SFT.RepairPairs, c.SFT.RepairRatio = 50, 0.5
			c.SFT.TargetAccuracy, c.SFT.TargetRepairAccuracy = tc.policy, tc.repair
			c.Stages = []string{"sft"}
			dir := t.TempDir()
			sum := runTiny(t, c, dir, Options{})
			ran, _ := sum["sft.steps_run"].(int)
			if acc, ok := sum["sft.eval.repair_accuracy"].(float64); !ok || acc < 0 || acc > 1 {
				t.Fatalf("summary sft.eval.repair_accuracy = %v", sum["sft.eval.repair_accuracy"])
			}
			rows, err := readRows(filepath.Join(dir, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != ran || ran == 0 {
				t.Fatalf("%d metrics rows, sft.steps_run %d", len(rows), ran)
			}
			if early := ran < c.SFT.Steps; early != tc.wantEarly {
				t.Fatalf("Stage 0 ran %d of %d steps; want early stop %v", ran, c.SFT.Steps, tc.wantEarly)
			}
			for i, r := range rows {
				pol, has := r["eval/greedy_accuracy"].(float64)
				rep, hasRep := r["eval/repair_accuracy"].(float64)
				if want := (i+1)%c.SFT.EvalEvery == 0 && i+1 < c.SFT.Steps; has != want || hasRep != want {
					t.Fatalf("step %d: evaluations present %v/%v, want %v", i+1, has, hasRep, want)
				}
				if has && targetsReached(c.SFT, pol, rep) != (i+1 == ran && tc.wantEarly) {
					t.Fatalf("step %d: policy %.3f repair %.3f, but Stage 0 ran %d steps", i+1, pol, rep, ran)
				}
			}
		})
	}
}
