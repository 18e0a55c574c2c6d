package train

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
	Summary      Summary
}

// stage0Method names the Stage-0 (SFT + repair cold start) entry of a
// comparison's results: one per (task, seed), with no curve.
const stage0Method = "stage0"

// CompareOptions are `train compare`'s settings beyond the config.
type CompareOptions struct {
	Out       string
	Log       io.Writer
	NewEngine func(Config) (backend.Backend, error)
}

// Compare runs methods × seeds × tasks: one Stage-0 checkpoint (SFT with
// the repair cold start) per (task, seed), then every method from it until
// rl.token_budget sampled tokens, with held-out evaluations at
// rl.eval_points fractions of the budget; then writes compare.md,
// compare.json and one PNG per task.
func Compare(ctx context.Context, cfg Config, opt CompareOptions) ([]RunResult, error) {
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
			d := Defaults()
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
			startAcc, _ := s0["sft.eval.greedy_accuracy"].(float64)
			ckpt := filepath.Join(dir0, "final.safetensors")
			for _, method := range cc.Methods {
				mc := base
				apply, _ := methodOverrides(method)
				apply(&mc)
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
				if acc, ok := sum["rl.eval.greedy_accuracy"].(float64); ok {
					tok, _ := sum["rl.tokens.decoded"].(float64)
					if last := curve[len(curve)-1]; last.Tokens < tok {
						curve = append(curve, CurvePoint{Tokens: tok, Accuracy: acc})
					}
				}
				results = append(results, RunResult{Task: tk, Method: method, Seed: seed, Curve: curve, Summary: sum})
			}
		}
	}
	if err := writeCompare(opt.Out, cfg, results); err != nil {
		return results, err
	}
	return results, nil
}

// runOne runs one stage sequence of a comparison into dir. With reuse, a
// finished run already there (summary.json written) whose config.yaml is
// this run's config byte for byte is read back instead of rerun, so an
// interrupted comparison resumes and one extended with new methods runs
// only those. It reports whether the run was reused.
func runOne(ctx context.Context, cfg Config, dir, ckpt string, opt CompareOptions, reuse bool) (Summary, bool, error) {
	cfg.Compare = CompareConfig{} // the grid is not part of one run's config
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
	sum, err := Run(ctx, be, cfg, Options{Out: dir, Checkpoint: ckpt, Log: io.Discard, ConfigYAML: y})
	return sum, false, err
}

// finishedRun reads dir's summary.json when dir holds a finished run of
// exactly this config.
func finishedRun(dir string, configYAML []byte) (Summary, bool) {
	prev, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil || !bytes.Equal(prev, configYAML) {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, false
	}
	var sum Summary
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
		acc, ok := row["eval/greedy_accuracy"].(float64)
		if !ok || row["stage"] != "rl" {
			continue
		}
		tok, _ := row["tokens/decoded_cumulative"].(float64)
		step, _ := row["step"].(float64)
		out = append(out, CurvePoint{Tokens: tok, Step: int(step), Accuracy: acc})
	}
	return out, sc.Err()
}
