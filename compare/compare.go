// Package compare runs the comparison grid of `train compare` (methods ×
// seeds × tasks over train.Run at equal sampled-token budgets) and writes
// its report: compare.md, compare.json and one PNG per task.
package compare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/internal/atomicfile"
	"github.com/sirl-dev/sirl/train"
)

// CurvePoint is one held-out evaluation during RL.
type CurvePoint struct {
	Tokens   float64 `json:"tokens_decoded"`
	Step     int     `json:"step"`
	Accuracy float64 `json:"greedy_accuracy"`
}

// RunResult is one (task, method, seed) run of a comparison.
type RunResult struct {
	Task, Method string
	Seed         int
	Curve        []CurvePoint
	Summary      train.Summary
	// LR is the RL learning rate the run used (0 for Stage 0).
	LR float64
	// Steps and StepSeconds are the RL steps run and their summed wall
	// time (evaluations excluded), from metrics.jsonl.
	Steps       int
	StepSeconds float64
	// TooLong counts the failures whose repair context did not fit the
	// model (counted as unrepaired by the method).
	TooLong float64
}

// stage0Method names the Stage-0 (SFT + repair cold start) entry of a
// comparison's results: one per (task, seed), with no curve.
const stage0Method = "stage0"

// Options are `train compare`'s settings beyond the config.
type Options struct {
	Out string    // the comparison folder
	Log io.Writer // progress
	// NewEngine opens a fresh engine for one run; Run closes it.
	NewEngine func(train.Config) (backend.Backend, error)
}

// grid is one comparison in progress: its config, options and progress
// counter.
type grid struct {
	cfg         train.Config
	opt         Options
	done, total int
	// stage0s holds the Stage-0 checkpoints run so far, by task and seed.
	stage0s map[string]stage0Run
	// starts holds Stage 0's held-out accuracy on a seed's own split, by
	// task and seed (see startAccuracy).
	starts map[string]float64
}

// stage0Run is one Stage-0 checkpoint of the grid.
type stage0Run struct {
	res    RunResult
	ckpt   string
	reused bool
}

// Validate checks the grid keys of cfg (compare.*, rl.token_budget) before
// anything runs or is written.
func Validate(cfg train.Config) error {
	cc := cfg.Compare
	if cfg.RL.TokenBudget <= 0 {
		return fmt.Errorf("config key rl.token_budget: compare needs an equal sampled-token budget (> 0)")
	}
	// With a sweep, no reported seed is a sweep alone (the regime search).
	if len(cc.Methods) == 0 || (len(cc.Seeds) == 0 && len(cc.LRSweep) == 0) || len(cc.Tasks) == 0 {
		return fmt.Errorf("config key compare: methods, seeds (unless compare.lr_sweep is set) and tasks must be non-empty")
	}
	if err := checkSweep(cc); err != nil {
		return err
	}
	if cc.Stage0Seed < 0 {
		return fmt.Errorf("config key compare.stage0_seed: %d is negative (0: one Stage 0 per seed)", cc.Stage0Seed)
	}
	return nil
}

// Run runs methods × seeds × tasks: one Stage-0 checkpoint (SFT with
// the repair cold start) per (task, seed), then every method from it until
// rl.token_budget sampled tokens, with held-out evaluations at
// rl.eval_points fractions of the budget; then writes compare.md,
// compare.json and one PNG per task. With compare.lr_sweep, every method
// first runs on compare.tune_seed at each learning rate, and the best one
// (see bestLR) is the method's learning rate on the reported seeds; with
// compare.lrs each method's rate is given instead.
func Run(ctx context.Context, cfg train.Config, opt Options) ([]RunResult, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	cc := cfg.Compare
	g := &grid{cfg: cfg, opt: opt, stage0s: map[string]stage0Run{}, starts: map[string]float64{}}
	g.total = len(cc.Tasks) * len(cc.Seeds) * len(cc.Methods)
	if len(cc.LRSweep) > 0 {
		g.total += len(cc.Tasks) * len(cc.Methods) * len(cc.LRSweep)
	}
	switch {
	case cc.Stage0Seed > 0:
		g.total += len(cc.Tasks) * (1 + len(otherSeeds(cc)))
	case len(cc.LRSweep) > 0:
		g.total += len(cc.Tasks) * (len(cc.Seeds) + 1)
	default:
		g.total += len(cc.Tasks) * len(cc.Seeds)
	}
	var results []RunResult
	var sweeps []sweepResult
	for ti, tk := range cc.Tasks {
		lrs := map[string]float64{}
		if len(cc.LRSweep) > 0 {
			sw, err := g.sweep(ctx, ti, tk)
			if err != nil {
				return nil, err
			}
			sweeps = append(sweeps, sw...)
			for _, s := range sw {
				lrs[s.Method] = s.Best
			}
		}
		for i, lr := range cc.LRs {
			lrs[cc.Methods[i]] = lr
		}
		for _, seed := range cc.Seeds {
			s0, ckpt, reused0, err := g.stage0(ctx, ti, tk, seed)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(results, func(r RunResult) bool { return r.Method == stage0Method && r.Task == tk && r.Seed == s0.Seed }) {
				results = append(results, s0) // once, when seeds share it
			}
			acc0, err := g.startAccuracy(ctx, ti, tk, seed, s0, ckpt, reused0)
			if err != nil {
				return nil, err
			}
			for _, method := range cc.Methods {
				lr, ok := lrs[method]
				if !ok {
					lr = cfg.RL.Optim.LR
				}
				dir := filepath.Join(opt.Out, tk, fmt.Sprintf("%s-seed%d", method, seed))
				r, err := g.method(ctx, ti, tk, seed, method, lr, s0, acc0, ckpt, dir, reused0)
				if err != nil {
					return nil, err
				}
				results = append(results, r)
			}
		}
	}
	if err := writeReport(opt.Out, cfg, results, sweeps); err != nil {
		return results, err
	}
	return results, nil
}

// base is the config of task ti on one seed: the per-task keys of the grid
// applied.
func (g *grid) base(ti int, tk string, seed int) train.Config {
	cc := g.cfg.Compare
	base := g.cfg
	base.Task.Name = tk
	if len(cc.SFTSteps) > 0 {
		base.SFT.Steps = cc.SFTSteps[ti]
	}
	if len(cc.RepairRatio) > 0 {
		base.SFT.RepairRatio = cc.RepairRatio[ti]
	}
	if len(cc.TrainMax) > 0 {
		base.Task.TrainMax = cc.TrainMax[ti]
	}
	base.RL.TokenBudget = int64(budgetOf(g.cfg, tk))
	base.Seed = uint64(seed)
	return base
}

// budgetOf is task tk's sampled-token budget: compare.token_budget's entry
// for it, else rl.token_budget.
func budgetOf(cfg train.Config, tk string) float64 {
	if i := slices.Index(cfg.Compare.Tasks, tk); i >= 0 && len(cfg.Compare.TokenBudget) > 0 {
		return float64(cfg.Compare.TokenBudget[i])
	}
	return float64(cfg.RL.TokenBudget)
}

// stage0 runs (or reuses) the Stage-0 checkpoint of (task, seed), or of
// (task, compare.stage0_seed) when that is set. It returns its result, the
// checkpoint's path and whether it was reused.
func (g *grid) stage0(ctx context.Context, ti int, tk string, seed int) (RunResult, string, bool, error) {
	if s := g.cfg.Compare.Stage0Seed; s > 0 {
		seed = s
	}
	key := fmt.Sprintf("%s/%d", tk, seed)
	if r, ok := g.stage0s[key]; ok {
		return r.res, r.ckpt, r.reused, nil
	}
	stage0 := g.base(ti, tk, seed)
	// Stage 0 reads no RL, SIRL or eval key: resetting them makes its
	// config, and so its reuse, independent of the RL settings compared.
	d := train.Defaults()
	stage0.RL, stage0.SIRL, stage0.Eval = d.RL, d.SIRL, d.Eval
	stage0.Stages = []string{"sft"}
	stage0.Name = fmt.Sprintf("%s-stage0-seed%d", tk, seed)
	dir0 := filepath.Join(g.opt.Out, tk, fmt.Sprintf("stage0-seed%d", seed))
	fmt.Fprintf(g.opt.Log, "[%d/%d] %s seed %d: Stage 0 (SFT + repair cold start)\n", g.done+1, g.total, tk, seed)
	s0, reused0, err := runOne(ctx, stage0, dir0, "", "", g.opt, true)
	if err != nil {
		return RunResult{}, "", false, fmt.Errorf("compare %s seed %d stage 0: %w", tk, seed, err)
	}
	g.done++
	r := stage0Run{res: RunResult{Task: tk, Method: stage0Method, Seed: seed, Summary: s0},
		ckpt: filepath.Join(dir0, "final.safetensors"), reused: reused0}
	g.stage0s[key] = r
	return r.res, r.ckpt, r.reused, nil
}

// otherSeeds lists the seeds, reported or tuning, that run RL from the
// shared Stage 0 of compare.stage0_seed without being that seed.
func otherSeeds(cc train.CompareConfig) []int {
	seeds := slices.Clone(cc.Seeds)
	if len(cc.LRSweep) > 0 && !slices.Contains(seeds, cc.TuneSeed) {
		seeds = append(seeds, cc.TuneSeed)
	}
	return slices.DeleteFunc(seeds, func(s int) bool { return s == cc.Stage0Seed })
}

// startAccuracy is Stage 0's held-out greedy accuracy on the held-out split
// of seed, the 0-token point of that seed's curves. The split follows a
// run's seed, and Stage 0 was evaluated during SFT on its own seed's split:
// a Stage 0 shared by other seeds (compare.stage0_seed) is evaluated once
// more on each of their splits (an eval-only run beside it), so that a
// curve and its gain over Stage 0 are measured on one set of problems.
func (g *grid) startAccuracy(ctx context.Context, ti int, tk string, seed int, s0 RunResult, ckpt string, reuse bool) (float64, error) {
	if seed == s0.Seed {
		acc, _ := s0.Summary.Float("sft." + train.KeyEvalGreedy)
		return acc, nil
	}
	key := fmt.Sprintf("%s/%d", tk, seed)
	if acc, ok := g.starts[key]; ok {
		return acc, nil
	}
	ev := g.base(ti, tk, seed)
	d := train.Defaults()
	ev.RL, ev.SIRL, ev.Eval = d.RL, d.SIRL, d.Eval
	ev.Eval.Samples, ev.Eval.Hard = 0, false
	ev.Stages = []string{"eval"}
	ev.Name = fmt.Sprintf("%s-stage0-seed%d-heldout-seed%d", tk, s0.Seed, seed)
	dir := filepath.Join(g.opt.Out, tk, fmt.Sprintf("stage0-seed%d-heldout-seed%d", s0.Seed, seed))
	fmt.Fprintf(g.opt.Log, "[%d/%d] %s seed %d: Stage 0 (seed %d) on this seed's held-out split\n", g.done+1, g.total, tk, seed, s0.Seed)
	start, _ := s0.Summary[train.KeyParamsSHA256].(string)
	sum, _, err := runOne(ctx, ev, dir, ckpt, start, g.opt, reuse)
	if err != nil {
		return 0, fmt.Errorf("compare %s seed %d: Stage 0 on its held-out split: %w", tk, seed, err)
	}
	g.done++
	acc, ok := sum.Float(train.KeyEvalGreedy)
	if !ok {
		return 0, fmt.Errorf("compare %s seed %d: %s has no %s", tk, seed, dir, train.KeyEvalGreedy)
	}
	g.starts[key] = acc
	return acc, nil
}

// method runs (or reuses, when its Stage 0 was reused too) one method from
// the Stage-0 checkpoint ckpt at RL learning rate lr into dir; acc0 is
// Stage 0's accuracy on the seed's held-out split (startAccuracy).
func (g *grid) method(ctx context.Context, ti int, tk string, seed int, method string, lr float64,
	s0 RunResult, acc0 float64, ckpt, dir string, reuse bool) (RunResult, error) {
	mc := g.base(ti, tk, seed)
	if err := train.ApplyMethod(&mc, method); err != nil {
		return RunResult{}, fmt.Errorf("config key compare.methods: %w", err)
	}
	mc.RL.Optim.LR = lr
	mc.Stages = []string{"rl", "eval"}
	mc.RL.Steps = 1 << 30 // the token budget ends the run
	mc.Name = fmt.Sprintf("%s-%s-seed%d", tk, method, seed)
	fmt.Fprintf(g.opt.Log, "[%d/%d] %s seed %d: %s (lr %g)\n", g.done+1, g.total, tk, seed, method, lr)
	start, _ := s0.Summary[train.KeyParamsSHA256].(string)
	sum, _, err := runOne(ctx, mc, dir, ckpt, start, g.opt, reuse)
	if err != nil {
		return RunResult{}, fmt.Errorf("compare %s seed %d %s: %w", tk, seed, method, err)
	}
	g.done++
	rl, err := readRunLog(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return RunResult{}, err
	}
	curve := append([]CurvePoint{{Tokens: 0, Accuracy: acc0}}, rl.curve...)
	if acc, ok := sum.Float("rl." + train.KeyEvalGreedy); ok {
		tok, _ := sum.Float(train.KeyRLDecoded)
		if last := curve[len(curve)-1]; last.Tokens < tok {
			curve = append(curve, CurvePoint{Tokens: tok, Accuracy: acc})
		}
	}
	return RunResult{Task: tk, Method: method, Seed: seed, Curve: curve, Summary: sum, LR: lr,
		Steps: rl.steps, StepSeconds: rl.stepSeconds, TooLong: rl.tooLong}, nil
}

// runOne runs one stage sequence of a comparison into dir, from the
// checkpoint ckpt whose parameters hash to start ("" for none). With reuse,
// a finished run already there (summary.json written) whose config.yaml is
// this run's config byte for byte and whose start matches (sameStart) is
// read back instead of rerun, so an interrupted comparison resumes and one
// extended with new methods runs only those; an unfinished one with a
// checkpoint is resumed (see interruptedRun). It reports whether the run
// was reused.
func runOne(ctx context.Context, cfg train.Config, dir, ckpt, start string, opt Options, reuse bool) (train.Summary, bool, error) {
	cfg.Compare = train.CompareConfig{} // the grid is not part of one run's config
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, false, err
	}
	reuse = reuse && sameStart(dir, start)
	if reuse {
		if sum, ok := finishedRun(dir, y); ok {
			fmt.Fprintf(opt.Log, "    reusing the finished run in %s\n", dir)
			return sum, true, nil
		}
	}
	// An interrupted run of this config (its rolling checkpoint written on
	// the interrupt) continues from that checkpoint, so one long run can
	// span sessions too.
	resume := reuse && interruptedRun(dir, y)
	if resume {
		fmt.Fprintf(opt.Log, "    resuming the interrupted run in %s\n", dir)
	} else if err := os.Remove(filepath.Join(dir, train.CheckpointName)); err != nil && !os.IsNotExist(err) {
		// A stale checkpoint of another config must not be resumed later.
		return nil, false, fmt.Errorf("run folder %s: %w", dir, err)
	}
	if err := writeStart(dir, start); err != nil {
		return nil, false, err
	}
	be, err := opt.NewEngine(cfg)
	if err != nil {
		return nil, false, err
	}
	// A GPU engine holds its memory pools until closed.
	defer be.Close()
	sum, err := train.Run(ctx, be, cfg, train.Options{Out: dir, Checkpoint: ckpt, Log: io.Discard, ConfigYAML: y, Resume: resume})
	return sum, false, err
}

// startFile holds, in a run folder, the params_sha256 of the checkpoint the
// run started from: two runs of one config from different Stage-0
// checkpoints (another compare.stage0_seed) are different runs.
const startFile = "start_params_sha256"

// sameStart reports whether dir's run started from the checkpoint whose
// parameters hash to start. A folder without the file (runs made before it
// existed) or a run from no checkpoint (start "") matches.
func sameStart(dir, start string) bool {
	if start == "" {
		return true
	}
	b, err := os.ReadFile(filepath.Join(dir, startFile))
	if os.IsNotExist(err) {
		return true
	}
	return err == nil && strings.TrimSpace(string(b)) == start
}

// writeStart records start in dir (nothing for "").
func writeStart(dir, start string) error {
	if start == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run folder %s: %w", dir, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, startFile), []byte(start+"\n")); err != nil {
		return fmt.Errorf("run folder %s: %w", dir, err)
	}
	return nil
}

// interruptedRun reports whether dir holds an unfinished run of exactly
// this config with a rolling checkpoint to resume from.
func interruptedRun(dir string, configYAML []byte) bool {
	prev, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil || !bytes.Equal(prev, configYAML) {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, train.CheckpointName))
	return err == nil
}

// finishedRun reads dir's summary.json when dir holds a finished run of
// exactly this config.
func finishedRun(dir string, configYAML []byte) (train.Summary, bool) {
	prev, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil || !bytes.Equal(prev, configYAML) {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, false
	}
	var sum train.Summary
	if json.Unmarshal(b, &sum) != nil {
		return nil, false
	}
	return sum, true
}

// runLog is what the report reads from a method run's metrics.jsonl.
type runLog struct {
	curve       []CurvePoint
	steps       int
	stepSeconds float64
	tooLong     float64
}

// readRunLog collects the RL evaluation rows of a metrics.jsonl, the RL
// steps and their wall time, and the repairs skipped for context length.
func readRunLog(path string) (runLog, error) {
	var out runLog
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		if row[train.MetricStage] != "rl" {
			continue
		}
		if dt, ok := row[train.MetricStepSeconds].(float64); ok {
			out.steps++
			out.stepSeconds += dt
		}
		if v, ok := row[metricTooLong].(float64); ok {
			out.tooLong += v
		}
		acc, ok := row[train.MetricGreedyAccuracy].(float64)
		if !ok {
			continue
		}
		tok, _ := row[train.MetricDecodedCumulative].(float64)
		step, _ := row[train.MetricStep].(float64)
		out.curve = append(out.curve, CurvePoint{Tokens: tok, Step: int(step), Accuracy: acc})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// metricTooLong is the per-step counter of failures whose repair context
// did not fit the model (train/sirl_repair.go).
const metricTooLong = "sirl/repair_context_too_long"
