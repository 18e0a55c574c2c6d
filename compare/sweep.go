package compare

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sirl-dev/sirl/train"
)

// sweepRun is one learning rate of a method's sweep on the tuning seed.
type sweepRun struct {
	LR       float64 `json:"lr"`
	Final    float64 `json:"acc_100"`
	AUC      float64 `json:"auc"`
	Wall     float64 `json:"wall_seconds"`
	Tokens   float64 `json:"tokens_decoded"`
	Selected bool    `json:"selected"`
}

// sweepResult is one method's learning-rate sweep on one task.
type sweepResult struct {
	Task     string     `json:"task"`
	Method   string     `json:"method"`
	TuneSeed int        `json:"tune_seed"`
	Stage0   float64    `json:"stage0_accuracy"`
	Runs     []sweepRun `json:"runs"`
	Best     float64    `json:"best_lr"`
}

// checkSweep validates compare.lr_sweep and compare.tune_seed together,
// and compare.lrs (given rates) against them and compare.methods.
func checkSweep(cc train.CompareConfig) error {
	if n := len(cc.LRs); n > 0 && n != len(cc.Methods) {
		return fmt.Errorf("config key compare.lrs: %d rates for %d methods (compare.methods)", n, len(cc.Methods))
	}
	if len(cc.LRs) > 0 && len(cc.LRSweep) > 0 {
		return fmt.Errorf("config key compare.lrs: given rates exclude a sweep (compare.lr_sweep); set one of them")
	}
	if len(cc.LRSweep) == 0 {
		return nil
	}
	if slices.Contains(cc.Seeds, cc.TuneSeed) {
		return fmt.Errorf("config key compare.tune_seed: %d is a reported seed (compare.seeds); tune on another seed", cc.TuneSeed)
	}
	for i, lr := range cc.LRSweep {
		if lr <= 0 || slices.Contains(cc.LRSweep[:i], lr) {
			return fmt.Errorf("config key compare.lr_sweep: %g is not a new positive rate", lr)
		}
	}
	return nil
}

// lrDir names a sweep run's folder: the method, the rate and the seed.
func lrDir(method string, lr float64, seed int) string {
	return fmt.Sprintf("%s-lr%s-seed%d", method, strconv.FormatFloat(lr, 'g', -1, 64), seed)
}

// sweep runs every method of the grid at every rate of compare.lr_sweep
// on compare.tune_seed (from that seed's own Stage 0, at the full budget)
// and picks each method's rate with bestLR.
func (g *grid) sweep(ctx context.Context, ti int, tk string) ([]sweepResult, error) {
	cc := g.cfg.Compare
	s0, ckpt, reused0, err := g.stage0(ctx, ti, tk, cc.TuneSeed)
	if err != nil {
		return nil, err
	}
	budget := budgetOf(g.cfg, tk)
	start, err := g.startAccuracy(ctx, ti, tk, cc.TuneSeed, s0, ckpt, reused0)
	if err != nil {
		return nil, err
	}
	var out []sweepResult
	for _, method := range cc.Methods {
		sr := sweepResult{Task: tk, Method: method, TuneSeed: cc.TuneSeed, Stage0: start}
		for _, lr := range cc.LRSweep {
			dir := filepath.Join(g.opt.Out, tk, lrDir(method, lr, cc.TuneSeed))
			r, err := g.method(ctx, ti, tk, cc.TuneSeed, method, lr, s0, start, ckpt, dir, reused0)
			if err != nil {
				return nil, fmt.Errorf("compare.lr_sweep: %w", err)
			}
			tok, _ := r.Summary.Float(train.KeyRLDecoded)
			sr.Runs = append(sr.Runs, sweepRun{LR: lr, Final: accAt(r.Curve, budget), AUC: auc(r.Curve, budget),
				Wall: r.StepSeconds, Tokens: tok})
		}
		best := bestLR(sr.Runs)
		sr.Runs[best].Selected = true
		sr.Best = sr.Runs[best].LR
		fmt.Fprintf(g.opt.Log, "    %s %s: learning rate %g chosen on seed %d\n", tk, method, sr.Best, cc.TuneSeed)
		out = append(out, sr)
	}
	return out, nil
}

// bestLR is the index of the sweep run with the highest final held-out
// accuracy; ties go to the higher AUC, then to the earlier rate.
func bestLR(runs []sweepRun) int {
	best := 0
	for i, r := range runs[1:] {
		b := runs[best]
		if r.Final > b.Final || (r.Final == b.Final && r.AUC > b.AUC) {
			best = i + 1
		}
	}
	return best
}

// sweepTable renders a task's sweeps: final accuracy and AUC per method
// and rate on the tuning seed, the chosen rate in bold.
func sweepTable(tk string, sweeps []sweepResult) string {
	var rows []sweepResult
	for _, s := range sweeps {
		if s.Task == tk {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		return ""
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Learning-rate sweep on the tuning seed %d (Stage 0 %.3f): held-out greedy accuracy at 100 %% of the budget / AUC per RL learning rate; the chosen rate (highest accuracy, ties: AUC) in bold, used on the reported seeds.\n\n| method |", rows[0].TuneSeed, rows[0].Stage0)
	for _, r := range rows[0].Runs {
		fmt.Fprintf(&md, " lr %g |", r.LR)
	}
	md.WriteString(" chosen |\n|---|")
	md.WriteString(strings.Repeat("---|", len(rows[0].Runs)+1) + "\n")
	for _, s := range rows {
		fmt.Fprintf(&md, "| %s |", s.Method)
		for _, r := range s.Runs {
			cell := fmt.Sprintf("%.3f / %.3f", r.Final, r.AUC)
			if r.Selected {
				cell = "**" + cell + "**"
			}
			fmt.Fprintf(&md, " %s |", cell)
		}
		fmt.Fprintf(&md, " %g |\n", s.Best)
	}
	md.WriteString("\n")
	return md.String()
}
