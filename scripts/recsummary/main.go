// Command recsummary prints, for each RL run folder given, the repair
// figures of docs/results/jsonl-recurrence: failures attempted, repairs
// accepted, accepted repairs that the oracle finds wrong-stepped, the mean
// normalised edit distance of the repair candidates (each step's mean
// weighted by the candidates it averaged: the failures whose repair
// context fit, times sirl.repair_candidates, a constant per run), audit
// rejections by rule and anchors rejected (with task.step_check form: how
// many of them by the form check, and how many anchors were a lone correct
// sibling the form check could not compare; form rejections the oracle
// finds right-stepped), summed over the run's RL rows
// of metrics.jsonl, and the held-out greedy accuracy after RL
// (summary.json). With several runs a last row pools them.
//
//	go run ./scripts/recsummary runs/rec-A runs/rec-B
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// figures are one run's totals.
type figures struct {
	attempted, accepted, wrong, anchors float64
	anchorsForm, anchorsUnchecked       float64
	formOracleRight                     float64
	distSum, distWeight                 float64
	rejected                            map[string]float64
	form                                bool    // the run logged the form check's anchor counters
	greedy                              float64 // held-out greedy accuracy after RL, -1 if unknown
}

// add pools o into f (the greedy accuracy is not pooled).
func (f *figures) add(o figures) {
	f.attempted += o.attempted
	f.accepted += o.accepted
	f.wrong += o.wrong
	f.anchors += o.anchors
	f.anchorsForm += o.anchorsForm
	f.anchorsUnchecked += o.anchorsUnchecked
	f.formOracleRight += o.formOracleRight
	f.distSum += o.distSum
	f.distWeight += o.distWeight
	f.form = f.form || o.form
	for r, n := range o.rejected {
		f.rejected[r] += n
	}
}

// readGreedy is summary.json's held-out greedy accuracy, -1 without one.
func readGreedy(dir string) float64 {
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return -1
	}
	var s map[string]any
	if json.Unmarshal(b, &s) != nil {
		return -1
	}
	if v, ok := s["eval.greedy_accuracy"].(float64); ok {
		return v
	}
	return -1
}

func read(dir string) (figures, error) {
	f := figures{rejected: map[string]float64{}, greedy: readGreedy(dir)}
	path := filepath.Join(dir, "metrics.jsonl")
	fh, err := os.Open(path)
	if err != nil {
		return f, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return f, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		if row["stage"] != "rl" {
			continue
		}
		num := func(k string) float64 { v, _ := row[k].(float64); return v }
		f.attempted += num("sirl/failures_attempted")
		f.accepted += num("sirl/failures_corrected")
		f.wrong += num("sirl/corrections_wrong_steps")
		f.anchors += num("sirl/anchors_rejected")
		if _, ok := row["sirl/anchors_rejected_form"]; ok {
			f.form = true
		}
		f.anchorsForm += num("sirl/anchors_rejected_form")
		f.anchorsUnchecked += num("sirl/anchors_form_unchecked")
		f.formOracleRight += num("sirl/form_rejected_oracle_right")
		if d, ok := row["sirl/edit_distance_mean"].(float64); ok {
			w := num("sirl/failures_attempted") - num("sirl/repair_context_too_long")
			f.distSum += d * w
			f.distWeight += w
		}
		for k, v := range row {
			if rule, ok := strings.CutPrefix(k, "sirl/audit_rejected/"); ok {
				x, _ := v.(float64)
				f.rejected[rule] += x
			}
		}
	}
	return f, sc.Err()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: recsummary RUN_DIR...")
		os.Exit(2)
	}
	fmt.Println("| run | attempted | accepted | wrong-stepped (oracle) | mean normalised edit distance of candidates | audit rejections | anchors rejected | held-out greedy after RL |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	pooled := figures{rejected: map[string]float64{}, greedy: -1}
	for _, dir := range os.Args[1:] {
		f, err := read(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "recsummary:", err)
			os.Exit(1)
		}
		pooled.add(f)
		printRow(filepath.Base(dir), f)
	}
	if len(os.Args) > 2 {
		printRow("pooled", pooled)
	}
}

// printRow prints one table row.
func printRow(name string, f figures) {
	share := 0.0
	if f.accepted > 0 {
		share = 100 * f.wrong / f.accepted
	}
	dist := 0.0
	if f.distWeight > 0 {
		dist = f.distSum / f.distWeight
	}
	var rules []string
	for r, n := range f.rejected {
		if r == "form" {
			rules = append(rules, fmt.Sprintf("form %g (right-stepped by the oracle %g)", n, f.formOracleRight))
			continue
		}
		rules = append(rules, fmt.Sprintf("%s %g", r, n))
	}
	sort.Strings(rules)
	if len(rules) == 0 {
		rules = []string{"0"}
	}
	anchors := fmt.Sprintf("%g", f.anchors)
	if f.form {
		anchors += fmt.Sprintf(" (form %g; unchecked lone anchors %g)", f.anchorsForm, f.anchorsUnchecked)
	}
	greedy := "-"
	if f.greedy >= 0 {
		greedy = fmt.Sprintf("%.3f", f.greedy)
	}
	fmt.Printf("| %s | %g | %g | %g (%.1f %%) | %.2f | %s | %s | %s |\n", name, f.attempted, f.accepted, f.wrong, share, dist,
		strings.Join(rules, ", "), anchors, greedy)
}
