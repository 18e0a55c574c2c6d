package compare

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sirl-dev/sirl/train"
)

// reach is, for one method on one task, the sampled tokens it needs to
// reach the reference method's final held-out accuracy (at 100 % of the
// budget) on the same seed, as a ratio to the reference's own tokens, and
// its RL wall time per step as a ratio to the reference's.
type reach struct {
	Method string
	// Ratio holds the reached seeds' ratios, Tokens their absolute tokens.
	Ratio, Tokens []float64
	// PerSeed is each seed's ratio; NaN when not reached.
	PerSeed map[int]float64
	// NotReached counts seeds where the method never reached the target
	// within the budget; Undefined those where the reference itself did
	// not improve over Stage 0 (its own tokens are 0: no ratio).
	NotReached, Undefined int
	// WallRatio is the per-seed ratio of wall seconds per RL step.
	WallRatio []float64
}

// Reached reports whether every seed with a defined ratio reached the
// target: only then is a mean ratio reported (an interval over the reached
// seeds alone would be biased toward fast runs).
func (r reach) Reached() bool { return r.NotReached == 0 && len(r.Ratio) > 0 }

// reachAll computes reach for every method against methods[0], seed by
// seed.
func reachAll(tk string, methods []string, runs []RunResult, budget float64) []reach {
	by := map[string]map[int]RunResult{}
	for _, r := range runs {
		if r.Task == tk && len(r.Curve) > 0 {
			if by[r.Method] == nil {
				by[r.Method] = map[int]RunResult{}
			}
			by[r.Method][r.Seed] = r
		}
	}
	if len(methods) == 0 {
		return nil
	}
	ref := by[methods[0]]
	var out []reach
	for _, m := range methods {
		rc := reach{Method: m, PerSeed: map[int]float64{}}
		for _, seed := range slices.Sorted(maps.Keys(by[m])) {
			run, refRun := by[m][seed], ref[seed]
			if refRun.Curve == nil {
				continue
			}
			if refRun.Steps > 0 && run.Steps > 0 && refRun.StepSeconds > 0 {
				rc.WallRatio = append(rc.WallRatio, (run.StepSeconds/float64(run.Steps))/(refRun.StepSeconds/float64(refRun.Steps)))
			}
			target := accAt(refRun.Curve, budget)
			refTok, _ := tokensTo(refRun.Curve, target, budget)
			if refTok <= 0 {
				rc.Undefined++
				continue
			}
			tok, ok := tokensTo(run.Curve, target, budget)
			if !ok {
				rc.NotReached++
				rc.PerSeed[seed] = nan()
				continue
			}
			rc.Ratio = append(rc.Ratio, tok/refTok)
			rc.Tokens = append(rc.Tokens, tok)
			rc.PerSeed[seed] = tok / refTok
		}
		out = append(out, rc)
	}
	return out
}

// reachTable renders reachAll's figures and adds them to the methods'
// JSON rows (aligned with methods).
func reachTable(tk string, methods []string, runs []RunResult, budget float64, rows []any) string {
	rs := reachAll(tk, methods, runs, budget)
	if len(rs) == 0 {
		return ""
	}
	ref := methods[0]
	var md strings.Builder
	fmt.Fprintf(&md, "Sampled tokens to reach %s's final accuracy (acc@100%% on the same seed; linear interpolation between evaluations) as a ratio to %s's own, mean ± 95 %% CI over seeds, reported only when every seed reaches it (else \"k/n not reached\"); RL wall time per step as a ratio to %s's (same seed, same machine); repairs skipped because their context did not fit the model.\n\n| method | tokens to %s final (ratio) | per seed | wall s / step vs %s | skipped repairs |\n|---|---|---|---|---|\n", ref, ref, ref, ref, ref)
	for i, r := range rs {
		n := len(r.Ratio) + r.NotReached
		cell := "—"
		switch {
		case r.Reached():
			v := [2]float64{}
			v[0], v[1] = meanCI(r.Ratio)
			cell = pm(v)
		case n > 0:
			cell = fmt.Sprintf("%d/%d not reached", r.NotReached, n)
		}
		if r.Undefined > 0 {
			cell += fmt.Sprintf(" (%d seed(s): %s did not improve)", r.Undefined, ref)
		}
		var seeds []string
		for _, s := range slices.Sorted(maps.Keys(r.PerSeed)) {
			if v := r.PerSeed[s]; v == v {
				seeds = append(seeds, fmt.Sprintf("%d: %.2f", s, v))
			} else {
				seeds = append(seeds, fmt.Sprintf("%d: —", s))
			}
		}
		wall := "—"
		var w [2]float64
		if len(r.WallRatio) > 0 {
			w[0], w[1] = meanCI(r.WallRatio)
			wall = pm(w)
		}
		skipped, share := skippedRepairs(tk, r.Method, runs)
		sk := "—"
		if share == share {
			sk = fmt.Sprintf("%.0f (%.1f %%)", skipped, 100*share)
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s |\n", r.Method, cell, strings.Join(seeds, ", "), wall, sk)
		row, ok := rows[i].(map[string]any)
		if !ok {
			continue
		}
		per := map[string]any{}
		for s, v := range r.PerSeed {
			if v == v {
				per[fmt.Sprint(s)] = v
			} else {
				per[fmt.Sprint(s)] = nil
			}
		}
		row["tokens_to_reference_final_per_seed"] = per
		row["tokens_to_reference_final_not_reached"] = r.NotReached
		row["tokens_to_reference_final_undefined"] = r.Undefined
		if r.Reached() {
			var v [2]float64
			v[0], v[1] = meanCI(r.Ratio)
			row["tokens_to_reference_final_ratio"], row["tokens_to_reference_final_ratio_ci95"] = v[0], v[1]
		}
		if len(r.WallRatio) > 0 {
			row["wall_per_step_vs_reference"], row["wall_per_step_vs_reference_ci95"] = w[0], w[1]
		}
		if share == share {
			row["repairs_skipped_too_long"], row["repairs_skipped_share"] = skipped, share
		}
	}
	md.WriteString("\n")
	return md.String()
}

// skippedRepairs sums a method's failures whose repair context did not fit
// the model, and their share of the failures it attempted (NaN when it
// attempted none).
func skippedRepairs(tk, method string, runs []RunResult) (float64, float64) {
	var n, att float64
	for _, r := range runs {
		if r.Task == tk && r.Method == method {
			n += r.TooLong
			v, _ := r.Summary.Float(train.KeyRLAttempted)
			att += v
		}
	}
	if att == 0 {
		return n, nan()
	}
	return n, n / att
}
