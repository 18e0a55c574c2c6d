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

	"go.yaml.in/yaml/v3"

	"github.com/sirl-dev/sirl/backend"
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

// Run runs methods × seeds × tasks: one Stage-0 checkpoint (SFT with
// the repair cold start) per (task, seed), then every method from it until
// rl.token_budget sampled tokens, with held-out evaluations at
// rl.eval_points fractions of the budget; then writes compare.md,
// compare.json and one PNG per task.
func Run(ctx context.Context, cfg train.Config, opt Options) ([]RunResult, error) {
	cc := cfg.Compare
	if cfg.RL.TokenBudget <= 0 {
		return nil, fmt.Errorf("config key rl.token_budget: compare needs an equal sampled-token budget (> 0)")
	}
	if len(cc.Methods) == 0 || len(cc.Seeds) == 0 || len(cc.Tasks) == 0 {
		return nil, fmt.Errorf("config key compare: methods, seeds and tasks must be non-empty")
	}
	var results []RunResult
	total := len(cc.Tasks) * len(cc.Seeds) * (len(cc.Methods) + 1)
	done := 0
	for ti, tk := range cc.Tasks {
		for _, seed := range cc.Seeds {
			base := cfg
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
			base.Seed = uint64(seed)
			stage0 := base
			// Stage 0 reads no RL, SIRL or eval key: resetting them makes its
			// config, and so its reuse, independent of the RL settings compared.
			d := train.Defaults()
			stage0.RL, stage0.SIRL, stage0.Eval = d.RL, d.SIRL, d.Eval
			stage0.Stages = []string{"sft"}
			stage0.Name = fmt.Sprintf("%s-stage0-seed%d", tk, seed)
			dir0 := filepath.Join(opt.Out, tk, fmt.Sprintf("stage0-seed%d", seed))
			fmt.Fprintf(opt.Log, "[%d/%d] %s seed %d: Stage 0 (SFT + repair cold start)\n", done+1, total, tk, seed)
			s0, reused0, err := runOne(ctx, stage0, dir0, "", opt, true)
			if err != nil {
				return nil, fmt.Errorf("compare %s seed %d stage 0: %w", tk, seed, err)
			}
			done++
			results = append(results, RunResult{Task: tk, Method: stage0Method, Seed: seed, Summary: s0})
			startAcc, _ := s0.Float("sft." + train.KeyEvalGreedy)
			ckpt := filepath.Join(dir0, "final.safetensors")
			for _, method := range cc.Methods {
				mc := base
				if err := train.ApplyMethod(&mc, method); err != nil {
					return nil, fmt.Errorf("config key compare.methods: %w", err)
				}
				mc.Stages = []string{"rl", "eval"}
				mc.RL.Steps = 1 << 30 // the token budget ends the run
				mc.Name = fmt.Sprintf("%s-%s-seed%d", tk, method, seed)
				dir := filepath.Join(opt.Out, tk, fmt.Sprintf("%s-seed%d", method, seed))
				fmt.Fprintf(opt.Log, "[%d/%d] %s seed %d: %s\n", done+1, total, tk, seed, method)
				// A method run is reused only when its Stage 0 was too.
				sum, _, err := runOne(ctx, mc, dir, ckpt, opt, reused0)
				if err != nil {
					return nil, fmt.Errorf("compare %s seed %d %s: %w", tk, seed, method, err)
				}
				done++
				curve, err := readCurve(filepath.Join(dir, "metrics.jsonl"))
				if err != nil {
					return nil, err
				}
				curve = append([]CurvePoint{{Tokens: 0, Accuracy: startAcc}}, curve...)
				if acc, ok := sum.Float("rl." + train.KeyEvalGreedy); ok {
					tok, _ := sum.Float(train.KeyRLDecoded)
					if last := curve[len(curve)-1]; last.Tokens < tok {
						curve = append(curve, CurvePoint{Tokens: tok, Accuracy: acc})
					}
				}
				results = append(results, RunResult{Task: tk, Method: method, Seed: seed, Curve: curve, Summary: sum})
			}
		}
	}
	if err := writeReport(opt.Out, cfg, results); err != nil {
		return results, err
	}
	return results, nil
}

// runOne runs one stage sequence of a comparison into dir. With reuse, a
// finished run already there (summary.json written) whose config.yaml is
// this run's config byte for byte is read back instead of rerun, so an
// interrupted comparison resumes and one extended with new methods runs
// only those. It reports whether the run was reused.
func runOne(ctx context.Context, cfg train.Config, dir, ckpt string, opt Options, reuse bool) (train.Summary, bool, error) {
	cfg.Compare = train.CompareConfig{} // the grid is not part of one run's config
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, false, err
	}
	if reuse {
		if sum, ok := finishedRun(dir, y); ok {
			fmt.Fprintf(opt.Log, "    reusing the finished run in %s\n", dir)
			return sum, true, nil
		}
	}
	be, err := opt.NewEngine(cfg)
	if err != nil {
		return nil, false, err
	}
	// A GPU engine holds its memory pools until closed.
	defer be.Close()
	sum, err := train.Run(ctx, be, cfg, train.Options{Out: dir, Checkpoint: ckpt, Log: io.Discard, ConfigYAML: y})
	return sum, false, err
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

// readCurve collects the RL evaluation rows of a metrics.jsonl.
func readCurve(path string) ([]CurvePoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []CurvePoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		acc, ok := row[train.MetricGreedyAccuracy].(float64)
		if !ok || row[train.MetricStage] != "rl" {
			continue
		}
		tok, _ := row[train.MetricDecodedCumulative].(float64)
		step, _ := row[train.MetricStep].(float64)
		out = append(out, CurvePoint{Tokens: tok, Step: int(step), Accuracy: acc})
	}
	return out, sc.Err()
}
