// Command recsummary prints, for each RL run folder given, the repair
// figures of docs/results/jsonl-recurrence: failures attempted, repairs
// accepted, accepted repairs that the oracle finds wrong-stepped, the mean
// normalised edit distance of the repair candidates (each step's mean
// weighted by the candidates it averaged: the failures whose repair
// context fit, times sirl.repair_candidates, a constant per run), audit
// rejections by rule and anchors rejected, summed over the run's RL rows
// of metrics.jsonl.
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
	distSum, distWeight                 float64
	rejected                            map[string]float64
}

func read(dir string) (figures, error) {
	f := figures{rejected: map[string]float64{}}
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
	fmt.Println("| run | attempted | accepted | wrong-stepped (oracle) | mean normalised edit distance of candidates | audit rejections | anchors rejected |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, dir := range os.Args[1:] {
		f, err := read(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "recsummary:", err)
			os.Exit(1)
		}
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
			rules = append(rules, fmt.Sprintf("%s %g", r, n))
		}
		sort.Strings(rules)
		if len(rules) == 0 {
			rules = []string{"0"}
		}
		fmt.Printf("| %s | %g | %g | %g (%.1f %%) | %.2f | %s | %g |\n", filepath.Base(dir), f.attempted, f.accepted, f.wrong, share, dist,
			strings.Join(rules, ", "), f.anchors)
	}
}
