package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/train"
)

// RLBenchConfig is part (c) of `train bench e2e`: a short SFT warm-up (so
// that some groups mix successes and failures and the methods have failures
// to identify and correct), then Steps RL steps of every method from that
// checkpoint at the same prompt batch, each through train.Run on a fresh
// engine; the phase times come from the runs' metrics.jsonl.
type RLBenchConfig struct {
	Preset      string   `json:"preset"`
	Task        string   `json:"task"`
	Mod         int      `json:"mod"`
	SFTSteps    int      `json:"sft_steps"`
	Steps       int      `json:"steps"`
	Prompts     int      `json:"prompts_per_step"`
	Generations int      `json:"num_generations"`
	MaxResponse int      `json:"max_response_len"`
	HeldOut     int      `json:"heldout"`
	Methods     []string `json:"methods"`
	// Out keeps the run folders there; empty: a temporary folder, removed.
	Out string `json:"out,omitempty"`
}

func (c RLBenchConfig) validate() error {
	if c.SFTSteps < 0 || c.Steps < 1 || c.Prompts < 1 || c.Generations < 2 || c.MaxResponse < 1 || c.HeldOut < 1 {
		return fmt.Errorf("bench e2e rl: sft steps %d ≥ 0, steps %d ≥ 1, prompts %d ≥ 1, generations %d ≥ 2, max response %d ≥ 1, held-out %d ≥ 1",
			c.SFTSteps, c.Steps, c.Prompts, c.Generations, c.MaxResponse, c.HeldOut)
	}
	if len(c.Methods) == 0 {
		return fmt.Errorf("bench e2e rl: no methods")
	}
	for _, m := range c.Methods {
		if err := train.ApplyMethod(&train.Config{}, m); err != nil {
			return err
		}
	}
	return nil
}

// RLFigures is part (c).
type RLFigures struct {
	Device string `json:"device"`
	Engine string `json:"engine"`
	// StartAccuracy is the held-out greedy accuracy after the SFT warm-up.
	StartAccuracy float64    `json:"start_greedy_accuracy"`
	SFTSeconds    float64    `json:"sft_seconds"`
	Methods       []RLMethod `json:"methods"`
}

// RLMethod is one method's mean RL step. With two or more steps the first
// (warm-up) is left out of the means. Identify is time/identify_correct less
// Correct; Correct is the sampling of corrections (time/repair_generation
// and every time/mc_*); Other is the rest of the step (scoring, advantages).
type RLMethod struct {
	Method      string             `json:"method"`
	StepsTimed  int                `json:"steps_timed"`
	StepSeconds float64            `json:"step_seconds"`
	Generation  float64            `json:"generation_seconds"`
	Identify    float64            `json:"identify_seconds"`
	Correct     float64            `json:"correct_seconds"`
	Training    float64            `json:"training_seconds"`
	Other       float64            `json:"other_seconds"`
	Phases      map[string]float64 `json:"phases"` // every time/* key, mean seconds
	Reward      float64            `json:"reward"`
	Mixed       float64            `json:"groups_mixed"`
	Decoded     float64            `json:"tokens_decoded"` // sampled tokens per step (rollouts, repairs, probes)
	Trained     float64            `json:"tokens_trained"` // 0: the steps had nothing to train on
	Localised   float64            `json:"localised"`      // failures given a corrected locus per step (sirl)
}

// Ratio is a method's mean step time over grpo's (0 when either is missing).
func (r *RLFigures) Ratio(method string) float64 {
	var base, m float64
	for _, x := range r.Methods {
		switch x.Method {
		case "grpo":
			base = x.StepSeconds
		case method:
			m = x.StepSeconds
		}
	}
	if base <= 0 {
		return 0
	}
	return m / base
}

// rlSteps runs part (c).
func rlSteps(ctx context.Context, c RLBenchConfig, seed uint64, open func(train.Config) (backend.Backend, error), log io.Writer) (*RLFigures, error) {
	dir := c.Out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sirl-bench-rl-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	base := train.Defaults()
	base.Name, base.Seed = "bench-e2e-rl", seed
	base.Model.Preset = c.Preset
	base.Model.MaxSeq = 256 // room for the repair context (prompt, failure, anchor) and its response
	base.Task.Name, base.Task.Mod, base.Task.TrainMin, base.Task.TrainMax = c.Task, c.Mod, 2, 4
	base.Task.HeldOut, base.Task.Hard, base.Task.MaxResponseLen = c.HeldOut, 0, c.MaxResponse
	base.SFT.Steps, base.SFT.BatchSize, base.SFT.EvalEvery, base.SFT.Optim.LR = c.SFTSteps, 32, 0, 3e-3
	base.SFT.RepairPairs = 500 // the repair cold start (METHOD.md §3.3), so that sirl-repair can repair
	base.RL.Steps, base.RL.PromptsPerStep, base.RL.NumGenerations = c.Steps, c.Prompts, c.Generations
	base.RL.Optim.LR, base.RL.Optim.WarmupSteps = 1e-4, 5
	out := &RLFigures{}
	sftDir := filepath.Join(dir, "sft")
	sft := base
	sft.Stages = []string{"sft"}
	fmt.Fprintf(log, "[e2e] rl: SFT warm-up, %d steps (%s preset, task %s)\n", c.SFTSteps, c.Preset, c.Task)
	sum, err := runWith(ctx, open, sft, train.Options{Out: sftDir})
	if err != nil {
		return nil, fmt.Errorf("sft warm-up: %w", err)
	}
	out.Device, _ = sum[train.KeyDevice].(string)
	out.Engine, _ = sum[train.KeyEngine].(string)
	out.StartAccuracy = num(sum["sft."+train.KeyEvalGreedy])
	out.SFTSeconds = num(sum[train.KeyWallSeconds])
	ckpt := filepath.Join(sftDir, "final.safetensors")
	for _, name := range c.Methods {
		cfg := base
		if err := train.ApplyMethod(&cfg, name); err != nil {
			return nil, err
		}
		cfg.Stages = []string{"rl"}
		run := filepath.Join(dir, name)
		fmt.Fprintf(log, "[e2e] rl: %s, %d steps of %d prompts × %d\n", name, c.Steps, c.Prompts, c.Generations)
		if _, err := runWith(ctx, open, cfg, train.Options{Out: run, Checkpoint: ckpt}); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rows, err := rlRows(filepath.Join(run, "metrics.jsonl"))
		if err != nil {
			return nil, err
		}
		m, err := meanStep(name, rows)
		if err != nil {
			return nil, err
		}
		out.Methods = append(out.Methods, m)
	}
	return out, nil
}

// runWith runs cfg on a fresh engine and closes it afterwards.
func runWith(ctx context.Context, open func(train.Config) (backend.Backend, error), cfg train.Config, opt train.Options) (train.Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	be, err := open(cfg)
	if err != nil {
		return nil, err
	}
	defer be.Close()
	return train.Run(ctx, be, cfg, opt)
}

// rlRows reads the RL rows of a metrics.jsonl.
func rlRows(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if row[train.MetricStage] == "rl" {
			rows = append(rows, row)
		}
	}
	return rows, sc.Err()
}

// meanStep averages the step rows (leaving out the first when there are
// two or more) and splits the step into its phases.
func meanStep(method string, rows []map[string]any) (RLMethod, error) {
	m := RLMethod{Method: method, Phases: map[string]float64{}}
	if len(rows) == 0 {
		return m, fmt.Errorf("%s: no RL step in metrics.jsonl", method)
	}
	if len(rows) >= 2 {
		rows = rows[1:]
	}
	n := float64(len(rows))
	m.StepsTimed = len(rows)
	for _, r := range rows {
		m.StepSeconds += num(r[train.MetricStepSeconds]) / n
		m.Reward += num(r[train.MetricReward]) / n
		m.Mixed += num(r[train.MetricGroupsMixed]) / n
		m.Decoded += num(r[train.MetricDecoded]) / n
		m.Trained += num(r[train.MetricTrained]) / n
		m.Localised += num(r[train.MetricLocalised]) / n
		for k, v := range r {
			if strings.HasPrefix(k, train.MetricTimePrefix) {
				m.Phases[strings.TrimPrefix(k, train.MetricTimePrefix)] += num(v) / n
			}
		}
	}
	m.Generation = m.Phases["generation"]
	m.Training = m.Phases["training"]
	for k, v := range m.Phases {
		if k == "repair_generation" || strings.HasPrefix(k, "mc_") {
			m.Correct += v
		}
	}
	// identify_correct covers the correction sampling when the method
	// builds its batch inside it (sirl); baselines have neither.
	if ic, ok := m.Phases["identify_correct"]; ok {
		m.Identify = max(0, ic-m.Correct)
	}
	m.Other = max(0, m.StepSeconds-m.Generation-m.Identify-m.Correct-m.Training)
	return m, nil
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	return 0
}

// results is part (c) as table rows.
func (r *RLFigures) results() []Result {
	var out []Result
	for _, m := range r.Methods {
		var ph []string
		for k := range m.Phases {
			ph = append(ph, k)
		}
		sort.Strings(ph)
		out = append(out, Result{Name: "e2e rl step " + m.Method, Value: 1e3 * m.StepSeconds, Unit: "ms",
			Note: fmt.Sprintf("gen %.0f, identify %.0f, correct %.0f, train %.0f, other %.0f ms; reward %.2f, mixed groups %.2f, %.0f tokens sampled, %.0f trained, %.1f localised",
				1e3*m.Generation, 1e3*m.Identify, 1e3*m.Correct, 1e3*m.Training, 1e3*m.Other, m.Reward, m.Mixed, m.Decoded, m.Trained, m.Localised)})
	}
	for _, m := range r.Methods {
		if m.Method != "grpo" {
			if x := r.Ratio(m.Method); x > 0 {
				note := fmt.Sprintf("start accuracy %.2f after SFT", r.StartAccuracy)
				if m.Mixed == 0 || m.Trained == 0 {
					note += "; NOT a measure of the method: its timed steps had no mixed group or nothing to train"
				}
				out = append(out, Result{Name: "e2e rl step " + m.Method + " / grpo", Value: x, Unit: "×", Note: note})
			}
		}
	}
	return out
}
