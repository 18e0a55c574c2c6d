package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/dist/disttest"
)

// runRanks runs c on n in-process ranks (each its own CPU engine); rank
// r's run folder is dirs[r] (rank 0's is the run's). It returns every
// rank's summary and error.
func runRanks(ctx context.Context, n int, c Config, dirs []string, opt func(r int) Options) ([]Summary, []error) {
	sums := make([]Summary, n)
	errs := disttest.Run(n, func(cm dist.Comm) error {
		o := opt(cm.Rank())
		o.Out, o.Comm = dirs[cm.Rank()], cm
		s, err := Run(ctx, cpu.New(1), c, o)
		sums[cm.Rank()] = s
		return err
	})
	return sums, errs
}

// sharedDir is one run folder seen by n ranks (a shared file system).
func sharedDir(t *testing.T, n int) []string {
	dirs := make([]string, n)
	dirs[0] = t.TempDir()
	for i := range dirs {
		dirs[i] = dirs[0]
	}
	return dirs
}

// rankDirs is n temporary run folders.
func rankDirs(t *testing.T, n int) []string {
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	return dirs
}

// maxDiff is the largest |a−b| over the parameters of two weight sets,
// with the parameter it occurs in.
func maxDiff(t *testing.T, a, b map[string][]float32) (float64, string) {
	t.Helper()
	worst, where := 0.0, ""
	for n, x := range a {
		y, ok := b[n]
		if !ok || len(y) != len(x) {
			t.Fatalf("%s: missing or of another length", n)
		}
		for i := range x {
			if d := math.Abs(float64(x[i]) - float64(y[i])); d > worst || math.IsNaN(d) {
				worst, where = d, n
			}
		}
	}
	return worst, where
}

// dpTolerance bounds |θ(N ranks) − θ(1 rank)| after the tiny runs below.
// Each rank's share of the batch sees the same samples and the same loss
// weights as in one process, but the gradient is summed per rank and then
// across ranks, a different float32 association than one pass: the
// weights differ in their last bits after the first update, and Adam
// carries that forward; an element whose gradient is rounding noise can
// even change sign, and Adam's first steps move it by a fraction of the
// learning rate. Measured: 6e-7 (2 ranks) and 1.6e-5 (3 ranks) after 5
// SFT steps at lr 3e-3, 2e-8 after 3 RL steps; a wrong normaliser or
// minibatch moves weights by about the learning rate (3e-3), 30 times the
// bound. Bits that differ can flip a sampled token once RL samples from
// them (a uniform within rounding of a boundary of the distribution), and
// a flipped sample changes that step's update by about the learning rate:
// so SFT and RL are compared separately, RL from the same checkpoint.
const dpTolerance = 1e-4

// TestDataParallelRanks: SFT, and RL per algorithm, on 2 and 3 in-process
// ranks ends with bitwise identical parameters on every rank (the runs'
// own digest check, and the digests compared here), rank 0 alone wrote a
// run folder, and SFT and the group-baseline algorithms end within
// dpTolerance of the same run in one process.
func TestDataParallelRanks(t *testing.T) {
	// Also: the RL steps' rewards equal one process's (the same samples).
	if testing.Short() {
		t.Skip("trains several tiny runs")
	}
	base, ckpt := stage0(t)
	for _, tc := range []struct {
		algo  string // or "sft": the SFT stage alone
		ranks int
	}{{"sft", 2}, {"sft", 3}, {"grpo", 2}, {"dr_grpo", 3}, {"dapo", 2}, {"gspo", 3}, {"sirl", 2}, {"sirl", 3}} {
		t.Run(fmt.Sprintf("%s-%d", tc.algo, tc.ranks), func(t *testing.T) {
			c := base
			c.SFT.Steps, c.SFT.RepairPairs = 5, 0
			c.Stages = []string{"rl"}
			if tc.algo == "sft" {
				c.Stages = []string{"sft"}
			}
			c.RL.Algo, c.RL.Steps, c.RL.NumGenerations, c.RL.PromptsPerStep = tc.algo, 3, 8, 7
			c.RL.Minibatches = 2
			c.SIRL.Identify, c.SIRL.AuditFromPrompt, c.SIRL.Replay = "sibling", false, true
			if tc.algo == "dapo" {
				// Dynamic sampling keeps groups of later generation
				// batches after each rank's own earlier ones: with more
				// than one minibatch they would split otherwise than in
				// one process (README, "Past one process").
				c.RL.Minibatches = 1
			}
			one := t.TempDir()
			runTiny(t, c, one, Options{Checkpoint: ckpt})
			if trained := trainedTokens(t, one); trained == 0 && tc.algo != "sft" {
				t.Fatal("the one-process run trained no RL token: the comparison would be vacuous")
			}
			dirs := rankDirs(t, tc.ranks)
			sums, errs := runRanks(context.Background(), tc.ranks, c, dirs, func(int) Options { return Options{Checkpoint: ckpt} })
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			for r, s := range sums {
				if s[KeyParamsSHA256] != sums[0][KeyParamsSHA256] || s[KeyParamsSHA256] == nil {
					t.Errorf("rank %d parameters sha256 %v, rank 0 %v", r, s[KeyParamsSHA256], sums[0][KeyParamsSHA256])
				}
			}
			for r, d := range dirs[1:] {
				if ents, _ := os.ReadDir(d); len(ents) > 0 {
					t.Errorf("rank %d wrote %d files into its run folder, want none", r+1, len(ents))
				}
			}
			if tc.algo == "sirl" {
				return // per-rank streams: an N-rank run of its own (README)
			}
			d, where := maxDiff(t, weightsOf(t, filepath.Join(one, "final.safetensors")), weightsOf(t, filepath.Join(dirs[0], "final.safetensors")))
			t.Logf("%s on %d ranks: max |Δθ| against one process %.3g (%s)", tc.algo, tc.ranks, d, where)
			if d > dpTolerance {
				t.Errorf("%d ranks differ from one process by %.3g in %s (tolerance %g)", tc.ranks, d, where, dpTolerance)
			}
		})
	}
}

// TestDataParallelResume: a 2-rank run interrupted mid-RL resumes on 2
// ranks bitwise equal to the uninterrupted 2-rank run, and its checkpoint
// also resumes on 1 rank (within dpTolerance of it).
func TestDataParallelResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains several tiny runs")
	}
	base, ckpt := stage0(t)
	for _, algo := range []string{"grpo", "sirl"} {
		t.Run(algo, func(t *testing.T) { resumeRanks(t, base, ckpt, algo) })
	}
}

// resumeRanks is TestDataParallelResume for one algorithm (SIRL: with the
// replay pool, kept per rank).
func resumeRanks(t *testing.T, base Config, ckpt, algo string) {
	c := base
	c.Stages = []string{"rl"}
	c.RL.Algo, c.RL.Steps, c.RL.NumGenerations, c.RL.PromptsPerStep = algo, 4, 8, 8
	c.SIRL.Identify, c.SIRL.AuditFromPrompt, c.SIRL.Replay = "sibling", false, true
	ref := sharedDir(t, 2)
	if _, errs := runRanks(context.Background(), 2, c, ref, func(int) Options { return Options{Checkpoint: ckpt} }); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	if trainedTokens(t, ref[0]) == 0 {
		t.Fatal("the 2-rank run trained no RL token: the comparison would be vacuous")
	}
	want := weightsOf(t, filepath.Join(ref[0], "final.safetensors"))
	interrupt := func() []string {
		dirs := sharedDir(t, 2)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, errs := runRanks(ctx, 2, c, dirs, func(r int) Options {
			return Options{Checkpoint: ckpt, stepHook: func(stage string, step int) {
				if r == 0 && stage == "rl" && step == 2 {
					cancel()
				}
			}}
		})
		for r, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("rank %d: %v, want an interruption", r, err)
			}
		}
		return dirs
	}
	dirs := interrupt()
	if _, errs := runRanks(context.Background(), 2, c, dirs, func(int) Options { return Options{Resume: true} }); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	sameWeights(t, want, weightsOf(t, filepath.Join(dirs[0], "final.safetensors")))

	if algo != "grpo" {
		return // SIRL on N ranks is its own run (per-rank streams), not one process's
	}
	dirs = interrupt()
	runTiny(t, c, dirs[0], Options{Resume: true})
	if d, where := maxDiff(t, want, weightsOf(t, filepath.Join(dirs[0], "final.safetensors"))); d > dpTolerance {
		t.Errorf("a 2-rank checkpoint resumed on 1 rank differs from the 2-rank run by %.3g in %s", d, where)
	}
}

// TestDataParallelFailingRank: a rank that fails (its run folder is a
// file, so it cannot start) ends every rank with an error instead of
// leaving them in a collective.
func TestDataParallelFailingRank(t *testing.T) {
	c := tinyConfig()
	c.Stages = []string{"sft"}
	dirs := rankDirs(t, 2)
	bad := filepath.Join(dirs[1], "file")
	if err := os.WriteFile(bad, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dirs[1] = bad
	_, errs := runRanks(context.Background(), 2, c, dirs, func(int) Options { return Options{} })
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d ended without an error", r)
		}
	}
	if !errors.Is(errs[0], disttest.ErrAborted) {
		t.Errorf("rank 0: %v, want the abort of the world", errs[0])
	}
}

// trainedTokens is the RL tokens a run folder's metrics say were trained.
func trainedTokens(t *testing.T, dir string) float64 {
	t.Helper()
	rows, err := readRows(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, r := range rows {
		if v, ok := r[MetricTrained].(float64); ok && r[MetricStage] == "rl" {
			n += v
		}
	}
	return n
}
