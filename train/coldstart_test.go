package train

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
)

// coldEnv is an env over the tiny Stage-0 checkpoint of stage0 (which gets
// some answers right and so fails well formed), set up as a run resumed
// from it would be.
func coldEnv(t *testing.T, c Config, ckpt string) *env {
	t.Helper()
	e := &env{ctx: context.Background(), cfg: c, be: cpu.New(2), state: &runState{Summary: Summary{}, Extra: map[string]string{}}}
	if err := e.setup(ckpt, "", false); err != nil {
		t.Fatal(err)
	}
	return e
}

// coldConfig is stage0's config with the failures cold start.
func coldConfig(base Config) Config {
	c := base
	c.SFT.ColdStartMode = ColdStartFailures
	c.SFT.Steps, c.SFT.EvalEvery, c.SFT.ColdStartAfter, c.SFT.ColdStartPrompts = 6, 2, 2, 8
	c.SFT.RepairPairs, c.SFT.RepairRatio = 12, 0.5
	return c
}

// TestFailurePoolHoldsFailures: a refresh keeps only the current model's
// finished, well-formed samples with reward 0 on that refresh's training
// draws, paired with the reference as anchor and target; two refreshes
// from the same seed and weights give the same pool; the pool keeps the
// newest sft.repair_pairs pairs.
func TestFailurePoolHoldsFailures(t *testing.T) {
	base, ckpt := stage0(t)
	c := coldConfig(base)
	e := coldEnv(t, c, ckpt)
	pool := &failurePool{capacity: 1000}
	f, err := e.refreshFailures(pool, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(pool.pairs) == 0 || f.kept != float64(len(pool.pairs)) {
		t.Fatalf("refresh kept %v pairs, pool holds %d (sampled %v, failed %v): the test needs failures", f.kept, len(pool.pairs), f.sampled, f.failed)
	}
	if f.sampled != float64(c.SFT.ColdStartPrompts*c.RL.NumGenerations) || f.failed < f.kept {
		t.Errorf("counts: sampled %v failed %v kept %v", f.sampled, f.failed, f.kept)
	}
	draws := e.coldDraws(4, c.SFT.ColdStartPrompts)
	for i, fp := range pool.pairs {
		p := pool.probs[i]
		if !reflect.DeepEqual(p, draws[fp.Draw]) || fp.At != 4 {
			t.Fatalf("pair %d: problem %q is not draw %d of step 4", i, p.Prompt, fp.Draw)
		}
		if e.task.Reward(p, fp.Failure) != 0 || !e.task.WellFormed(p, fp.Failure) {
			t.Errorf("pair %d: %q on %q is not a well-formed failure", i, fp.Failure, p.Prompt)
		}
		s := e.failureSeq(pool, i)
		if got, want := e.tok.Decode(s.Response), p.Solution; !strings.HasPrefix(got, want) || s.Response[len(s.Response)-1] != e.eos {
			t.Errorf("pair %d: target %q, want the reference %q then EOS", i, got, want)
		}
		if ctx := e.tok.Decode(s.Context); !strings.Contains(ctx, fp.Failure) || !strings.Contains(ctx, p.Solution) {
			t.Errorf("pair %d: repair context %q lacks the failure or the reference anchor", i, ctx)
		}
		if len(s.Context)+len(s.Response) > e.m.Cfg.MaxSeq {
			t.Errorf("pair %d: %d tokens exceed the context", i, len(s.Context)+len(s.Response))
		}
	}
	again := &failurePool{capacity: 1000}
	if _, err := coldEnv(t, c, ckpt).refreshFailures(again, 4); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pool.pairs, again.pairs) {
		t.Error("the same seed, step and weights gave another pool")
	}
	other := &failurePool{capacity: 1000}
	if _, err := e.refreshFailures(other, 6); err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(pool.pairs, other.pairs) {
		t.Error("another refresh step drew the same pool")
	}
	small := &failurePool{capacity: 2}
	small.add(pool.pairs, pool.probs)
	small.add(other.pairs, other.probs)
	all := append(slices.Clone(pool.pairs), other.pairs...)
	want := all[len(all)-2:]
	if !reflect.DeepEqual(small.pairs, want) || len(small.probs) != 2 {
		t.Errorf("capacity 2 kept %v, want the newest two %v", small.pairs, want)
	}
}

// TestColdFailuresResume: Stage 0 with the failures cold start interrupted
// after the first refresh and resumed ends bitwise equal to the
// uninterrupted run, whose batches did train on failure pairs.
func TestColdFailuresResume(t *testing.T) {
	base, ckpt := stage0(t)
	c := coldConfig(base)
	ref := t.TempDir()
	runTiny(t, c, ref, Options{Checkpoint: ckpt})
	rows, err := readRows(filepath.Join(ref, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	refreshes := 0
	for _, r := range rows {
		if n, ok := r[MetricColdPool].(float64); ok {
			refreshes++
			if n == 0 {
				t.Fatalf("step %v: empty failure pool, the resume comparison would be vacuous", r[MetricStep])
			}
		}
	}
	if refreshes != 2 { // before steps 3 and 5
		t.Errorf("%d refreshes, want 2 (after 2 steps, every 2 steps)", refreshes)
	}
	dir := t.TempDir()
	interruptAt(t, c, dir, ckpt, 3)
	st := checkpointState(t, filepath.Join(dir, checkpointName))
	if st.Extra[extraColdPool] == "" {
		t.Fatal("the interrupted run's checkpoint has no failure pool")
	}
	runTiny(t, c, dir, Options{Resume: true})
	sameWeights(t, weightsOf(t, filepath.Join(ref, "final.safetensors")), weightsOf(t, filepath.Join(dir, "final.safetensors")))
	if st := checkpointState(t, filepath.Join(dir, checkpointName)); st.Extra[extraColdPool] != "" {
		t.Error("the failure pool outlived Stage 0 in the run state")
	}
}

// checkpointState reads a checkpoint's run state.
func checkpointState(t *testing.T, path string) runState {
	t.Helper()
	_, meta, err := model.LoadCheckpoint(cpu.New(1), path)
	if err != nil {
		t.Fatal(err)
	}
	var st runState
	if err := json.Unmarshal([]byte(meta["state"]), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestColdStartNone: none trains no repair example whatever repair_pairs
// says: bitwise the run with repair_pairs 0, and no repair evaluation.
func TestColdStartNone(t *testing.T) {
	c := tinyConfig()
	c.Stages = []string{"sft"}
	off := t.TempDir()
	runTiny(t, c, off, Options{})
	c.SFT.RepairPairs, c.SFT.ColdStartMode = 20, ColdStartNone
	none := t.TempDir()
	sum := runTiny(t, c, none, Options{})
	sameWeights(t, weightsOf(t, filepath.Join(off, "final.safetensors")), weightsOf(t, filepath.Join(none, "final.safetensors")))
	if _, ok := sum[KeySFTRepairAccuracy]; ok {
		t.Error("cold_start none evaluated the repair mode")
	}
	c.SFT.ColdStartMode = ColdStartInject
	inj := t.TempDir()
	runTiny(t, c, inj, Options{})
	a, b := weightsOf(t, filepath.Join(off, "final.safetensors")), weightsOf(t, filepath.Join(inj, "final.safetensors"))
	if d, _ := maxDiff(t, a, b); d == 0 {
		t.Error("inject trained the same weights as no cold start: the comparison above is vacuous")
	}
}

// TestColdStartConfig: the cold-start keys' validation names the key.
func TestColdStartConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		key    string // "" = valid
	}{
		{"default", func(c *Config) {}, ""},
		{"inject", func(c *Config) { c.SFT.ColdStartMode = "inject" }, ""},
		{"failures", func(c *Config) { c.SFT.ColdStartMode, c.SFT.RepairPairs = "failures", 100 }, ""},
		{"none with pairs", func(c *Config) { c.SFT.ColdStartMode, c.SFT.RepairPairs = "none", 100 }, ""},
		{"unknown", func(c *Config) { c.SFT.ColdStartMode = "own" }, "sft.cold_start"},
		{"failures without pool", func(c *Config) { c.SFT.ColdStartMode = "failures" }, "sft.cold_start"},
		{"after past the end", func(c *Config) {
			c.SFT.ColdStartMode, c.SFT.RepairPairs, c.SFT.ColdStartAfter = "failures", 100, c.SFT.Steps
		}, "sft.cold_start_after"},
		{"negative after", func(c *Config) { c.SFT.ColdStartAfter = -1 }, "sft.cold_start_after"},
		{"negative prompts", func(c *Config) { c.SFT.ColdStartPrompts = -1 }, "sft.cold_start_prompts"},
		{"none with a repair target", func(c *Config) {
			c.SFT.ColdStartMode, c.SFT.RepairPairs, c.SFT.TargetRepairAccuracy = "none", 100, 0.5
		}, "sft.target_repair_accuracy"},
	} {
		c := Defaults()
		tc.mutate(&c)
		err := c.Validate()
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.key != "" && (err == nil || !strings.Contains(err.Error(), "config key "+tc.key+":")):
			t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.key)
		}
	}
}

// TestRefreshDue: the pool is refreshed at cold_start_after, then every
// eval_every steps (once without eval_every); the default is a third of
// the steps.
func TestRefreshDue(t *testing.T) {
	for _, tc := range []struct {
		steps, every, after int
		want                []int
	}{
		{30, 10, 0, []int{10, 20}},
		{30, 5, 12, []int{12, 17, 22, 27}},
		{30, 0, 12, []int{12}},
	} {
		c := SFTConfig{Steps: tc.steps, EvalEvery: tc.every, ColdStartAfter: tc.after}
		var got []int
		for s := range tc.steps {
			if c.refreshDue(s) {
				got = append(got, s)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("steps %d every %d after %d: refreshes before steps done %v, want %v", tc.steps, tc.every, tc.after, got, tc.want)
		}
	}
}

// TestColdFailuresRanks: the failures cold start on 2 in-process ranks
// (each decodes its share of the refresh's prompts, the kept failures are
// gathered) ends with identical parameters on both ranks, the same pool
// counts as one process, and weights within dpTolerance of it. The refresh
// runs before the first step, from the checkpoint's weights, so both runs
// sample from bitwise the same model.
func TestColdFailuresRanks(t *testing.T) {
	if testing.Short() {
		t.Skip("trains several tiny runs")
	}
	base, ckpt := stage0(t)
	c := coldConfig(base)
	c.SFT.Steps, c.SFT.EvalEvery, c.SFT.ColdStartAfter, c.SFT.ColdStartPrompts = 2, 0, 0, 7
	one := t.TempDir()
	sum1 := runTiny(t, c, one, Options{Checkpoint: ckpt})
	if n, _ := sum1.Float(KeySFTColdKept); n == 0 {
		t.Fatal("the one-process run kept no failure: the comparison would be vacuous")
	}
	dirs := rankDirs(t, 2)
	sums, errs := runRanks(context.Background(), 2, c, dirs, func(int) Options { return Options{Checkpoint: ckpt} })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if sums[1][KeyParamsSHA256] != sums[0][KeyParamsSHA256] || sums[0][KeyParamsSHA256] == nil {
		t.Errorf("rank 1 parameters sha256 %v, rank 0 %v", sums[1][KeyParamsSHA256], sums[0][KeyParamsSHA256])
	}
	for _, k := range []string{KeySFTColdKept, KeySFTColdPool} {
		a, _ := sum1.Float(k)
		b, _ := sums[0].Float(k)
		if a != b {
			t.Errorf("%s: %v on 2 ranks, %v in one process", k, b, a)
		}
	}
	if d, where := maxDiff(t, weightsOf(t, filepath.Join(one, "final.safetensors")), weightsOf(t, filepath.Join(dirs[0], "final.safetensors"))); d > dpTolerance {
		t.Errorf("2 ranks differ from one process by %.3g in %s (tolerance %g)", d, where, dpTolerance)
	}
}
