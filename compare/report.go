package compare

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sirl-dev/sirl/internal/atomicfile"
	"github.com/sirl-dev/sirl/train"
)

// methodStats aggregates one method on one task over seeds.
type methodStats struct {
	Method               string     `json:"method"`
	Seeds                int        `json:"seeds"`
	Acc25, Acc50, Acc100 [2]float64 `json:"-"`
	AUC                  [2]float64 `json:"-"`
	Decoded, Prefilled   float64    `json:"-"`
	Trained, Wall        float64    `json:"-"`
	Localisation         float64    `json:"-"`
	Localised            float64    `json:"-"`
	Attempted, Corrected float64    `json:"-"`
	JSON                 map[string]any
}

func summarise(task, method string, runs []RunResult, budget float64) methodStats {
	ms := methodStats{Method: method}
	var a25, a50, a100, au []float64
	var loc, locOK float64
	for _, r := range runs {
		if r.Task != task || r.Method != method {
			continue
		}
		ms.Seeds++
		a25 = append(a25, accAt(r.Curve, 0.25*budget))
		a50 = append(a50, accAt(r.Curve, 0.5*budget))
		a100 = append(a100, accAt(r.Curve, budget))
		au = append(au, auc(r.Curve, budget))
		f := func(k string) float64 { v, _ := r.Summary.Float(k); return v }
		ms.Decoded += f(train.KeyRLDecoded)
		ms.Prefilled += f(train.KeyRLPrefilled)
		ms.Trained += f(train.KeyRLTrained)
		ms.Wall += f(train.KeyWallSeconds)
		loc += f(train.KeyRLLocalised)
		locOK += f(train.KeyRLLocalisedCorrect)
		ms.Attempted += f(train.KeyRLAttempted)
		ms.Corrected += f(train.KeyRLCorrected)
	}
	n := math.Max(1, float64(ms.Seeds))
	ms.Decoded, ms.Prefilled, ms.Trained, ms.Wall = ms.Decoded/n, ms.Prefilled/n, ms.Trained/n, ms.Wall/n
	ms.Acc25[0], ms.Acc25[1] = meanCI(a25)
	ms.Acc50[0], ms.Acc50[1] = meanCI(a50)
	ms.Acc100[0], ms.Acc100[1] = meanCI(a100)
	ms.AUC[0], ms.AUC[1] = meanCI(au)
	ms.Localisation = math.NaN()
	if loc > 0 {
		ms.Localisation = locOK / loc
	}
	ms.Localised = loc
	ms.JSON = map[string]any{"method": method, "seeds": ms.Seeds,
		"acc_25": ms.Acc25[0], "acc_25_ci95": ms.Acc25[1], "acc_50": ms.Acc50[0], "acc_50_ci95": ms.Acc50[1],
		"acc_100": ms.Acc100[0], "acc_100_ci95": ms.Acc100[1], "auc": ms.AUC[0], "auc_ci95": ms.AUC[1],
		"tokens_decoded": ms.Decoded, "tokens_prefilled": ms.Prefilled, "tokens_trained": ms.Trained,
		"wall_seconds": ms.Wall, "localised_failures": loc}
	if loc > 0 {
		ms.JSON["localisation_precision"] = ms.Localisation
	}
	if ms.Attempted > 0 {
		ms.JSON["failures_attempted"] = ms.Attempted
		ms.JSON["failures_corrected"] = ms.Corrected
	}
	return ms
}

// pairedTable compares each method with the first one (the reference) seed
// by seed: both start from the same Stage-0 checkpoint, so the per-seed
// difference removes the start-point variance that dominates the unpaired
// intervals. It also gives each method's gain over its Stage-0 accuracy. The
// figures are added to the methods' JSON rows.
func pairedTable(tk string, methods []string, runs []RunResult, budget float64, rows []any) string {
	if len(methods) == 0 {
		return ""
	}
	ref := methods[0]
	curves := map[string]map[int][]CurvePoint{}
	for _, r := range runs {
		if r.Task == tk && len(r.Curve) > 0 {
			if curves[r.Method] == nil {
				curves[r.Method] = map[int][]CurvePoint{}
			}
			curves[r.Method][r.Seed] = r.Curve
		}
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Paired by seed (mean ± 95 %% CI of per-seed differences): against %s, and gain over the Stage-0 accuracy.\n\n| method | Δacc@100%% vs %s | ΔAUC vs %s | gain acc@100%% | Δacc@25%% vs %s | Δacc@50%% vs %s |\n|---|---|---|---|---|---|\n", ref, ref, ref, ref, ref)
	for i, m := range methods {
		var dAcc, dAUC, gain, d25, d50 []float64
		// Seeds in a fixed order: the same report from the same runs.
		for _, seed := range slices.Sorted(maps.Keys(curves[m])) {
			c := curves[m][seed]
			gain = append(gain, accAt(c, budget)-c[0].Accuracy)
			if rc, ok := curves[ref][seed]; ok {
				dAcc = append(dAcc, accAt(c, budget)-accAt(rc, budget))
				dAUC = append(dAUC, auc(c, budget)-auc(rc, budget))
				d25 = append(d25, accAt(c, 0.25*budget)-accAt(rc, 0.25*budget))
				d50 = append(d50, accAt(c, 0.5*budget)-accAt(rc, 0.5*budget))
			}
		}
		if len(gain) == 0 {
			continue
		}
		var d, a, g, q1, q2 [2]float64
		d[0], d[1] = meanCI(dAcc)
		q1[0], q1[1] = meanCI(d25)
		q2[0], q2[1] = meanCI(d50)
		a[0], a[1] = meanCI(dAUC)
		g[0], g[1] = meanCI(gain)
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s |\n", m, pmSigned(d), pmSigned(a), pmSigned(g), pmSigned(q1), pmSigned(q2))
		if row, ok := rows[i].(map[string]any); ok {
			row["paired_reference"] = ref
			row["delta_acc_100"], row["delta_acc_100_ci95"] = d[0], d[1]
			row["delta_auc"], row["delta_auc_ci95"] = a[0], a[1]
			row["gain_acc_100"], row["gain_acc_100_ci95"] = g[0], g[1]
			row["delta_acc_25"], row["delta_acc_25_ci95"] = q1[0], q1[1]
			row["delta_acc_50"], row["delta_acc_50_ci95"] = q2[0], q2[1]
		}
	}
	md.WriteString("\n")
	return md.String()
}

func pmSigned(v [2]float64) string { return fmt.Sprintf("%+.3f ± %.3f", v[0], v[1]) }

// stage0Line lists each Stage-0 checkpoint (SFT steps run, held-out
// greedy accuracy, and the repair mode's accuracy on injected errors) and,
// where runs of other seeds start from it, its accuracy on their held-out
// splits: the 0-token point of their curves.
func stage0Line(tk string, runs []RunResult) string {
	var parts []string
	s0seeds := map[int]bool{}
	for _, r := range runs {
		if r.Task != tk || r.Method != stage0Method {
			continue
		}
		s0seeds[r.Seed] = true
		p := fmt.Sprintf("seed %d: %v SFT steps, policy %.3f", r.Seed, r.Summary[train.KeySFTStepsRun], r.Summary["sft."+train.KeyEvalGreedy])
		if v, ok := r.Summary[train.KeySFTRepairAccuracy].(float64); ok {
			p += fmt.Sprintf(", repair %.3f", v)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	line := "Stage 0 (held-out greedy accuracy of the policy; of the repair mode on injected errors): " + strings.Join(parts, "; ") + "."
	starts := map[int]float64{}
	for _, r := range runs {
		if r.Task == tk && r.Method != stage0Method && len(r.Curve) > 0 && !s0seeds[r.Seed] {
			starts[r.Seed] = r.Curve[0].Accuracy
		}
	}
	if len(starts) > 0 {
		var sp []string
		for _, seed := range slices.Sorted(maps.Keys(starts)) {
			sp = append(sp, fmt.Sprintf("seed %d %.3f", seed, starts[seed]))
		}
		line += " On the held-out split of each seed that starts from it (the split follows the seed; these are the 0-token points of the curves and the base of the gains): " + strings.Join(sp, ", ") + "."
	}
	return line + "\n\n"
}

// startNote says which Stage-0 checkpoint the methods start from.
func startNote(stage0Seed int) string {
	if stage0Seed > 0 {
		return fmt.Sprintf("Every method on every seed starts from one Stage-0 checkpoint per task (trained with seed %d, compare.stage0_seed); the seeds vary the RL run and the held-out split.", stage0Seed)
	}
	return "Every method starts from the same Stage-0 checkpoint per seed."
}

// lrLine names each method's RL learning rate on the reported seeds of
// task tk and where it came from.
func lrLine(tk string, cc train.CompareConfig, runs []RunResult) string {
	var parts []string
	for _, m := range cc.Methods {
		i := slices.IndexFunc(runs, func(r RunResult) bool { return r.Task == tk && r.Method == m && r.LR > 0 })
		if i >= 0 {
			parts = append(parts, fmt.Sprintf("%s %g", m, runs[i].LR))
		}
	}
	from := "rl.optim.lr"
	switch {
	case len(cc.LRs) > 0:
		from = "given by compare.lrs"
	case len(cc.LRSweep) > 0:
		from = "chosen by the sweep below"
	}
	return fmt.Sprintf("RL learning rates (%s): %s.\n\n", from, strings.Join(parts, ", "))
}

func pm(v [2]float64) string { return fmt.Sprintf("%.3f ± %.3f", v[0], v[1]) }

// writeReport writes compare.md, compare.json and <task>.png.
func writeReport(out string, cfg train.Config, runs []RunResult, sweeps []sweepResult) error {
	budgets := map[string]float64{}
	var perTask []string
	for _, tk := range cfg.Compare.Tasks {
		budgets[tk] = budgetOf(cfg, tk)
		perTask = append(perTask, fmt.Sprintf("%s %.0f", tk, budgets[tk]))
	}
	var md strings.Builder
	js := map[string]any{"token_budget": budgets, "seeds": cfg.Compare.Seeds, "device": "", "tasks": map[string]any{}}
	fmt.Fprintf(&md, "# Comparison at equal sampled tokens\n\nBudget: sampled (decoded) tokens per run, the same for every method of a task (%s); seeds %v; mean ± 95 %% CI (t) over seeds. Accuracy is held-out greedy accuracy, interpolated at 25/50/100 %% of the budget; AUC is over the budget fraction [0, 1]. %s\n\n", strings.Join(perTask, ", "), cfg.Compare.Seeds, startNote(cfg.Compare.Stage0Seed))
	for _, r := range runs {
		if d, ok := r.Summary[train.KeyDevice].(string); ok {
			js["device"] = d
			fmt.Fprintf(&md, "Device: %s.\n\n", d)
			break
		}
	}
	for _, tk := range cfg.Compare.Tasks {
		budget := budgets[tk]
		if len(cfg.Compare.Seeds) == 0 { // a sweep alone
			fmt.Fprintf(&md, "## Task %s\n\n%s", tk, sweepTable(tk, sweeps))
			continue
		}
		fmt.Fprintf(&md, "## Task %s\n\n%s| method | acc@25%% | acc@50%% | acc@100%% | AUC | decoded | prefilled | trained | wall s | corrected / failures | localisation precision |\n|---|---|---|---|---|---|---|---|---|---|---|\n", tk, stage0Line(tk, runs))
		var rows []any
		for _, m := range cfg.Compare.Methods {
			ms := summarise(tk, m, runs, budget)
			rows = append(rows, ms.JSON)
			loc := "—"
			if !math.IsNaN(ms.Localisation) {
				loc = fmt.Sprintf("%.3f (n=%.0f)", ms.Localisation, ms.Localised)
			}
			fixed := "—"
			if ms.Attempted > 0 {
				fixed = fmt.Sprintf("%.0f / %.0f", ms.Corrected, ms.Attempted)
			}
			fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %.0f | %.0f | %.0f | %.1f | %s | %s |\n", m, pm(ms.Acc25), pm(ms.Acc50),
				pm(ms.Acc100), pm(ms.AUC), ms.Decoded, ms.Prefilled, ms.Trained, ms.Wall, fixed, loc)
		}
		md.WriteString("\n" + lrLine(tk, cfg.Compare, runs))
		md.WriteString(pairedTable(tk, cfg.Compare.Methods, runs, budget, rows))
		md.WriteString(reachTable(tk, cfg.Compare.Methods, runs, budget, rows))
		md.WriteString(sweepTable(tk, sweeps))
		js["tasks"].(map[string]any)[tk] = rows
		if err := plotTask(filepath.Join(out, tk+".png"), tk, cfg, runs, budget); err != nil {
			return err
		}
		fmt.Fprintf(&md, "![%s](%s.png)\n\n", tk, tk)
	}
	var perRun []map[string]any
	for _, r := range runs {
		row := map[string]any{"task": r.Task, "method": r.Method, "seed": r.Seed, "curve": r.Curve, "summary": r.Summary}
		if r.LR > 0 {
			row["rl_lr"], row["rl_steps"], row["rl_step_seconds"] = r.LR, r.Steps, r.StepSeconds
		}
		perRun = append(perRun, row)
	}
	js["runs"] = perRun
	if len(sweeps) > 0 {
		js["lr_sweep"] = sweeps
	}
	b, err := json.MarshalIndent(js, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(out, "compare.json"), b); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(out, "compare.md"), []byte(md.String()))
}
