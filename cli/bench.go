package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/bench"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/train"
)

// benchFlags are `train bench`'s flags; the e2e shape flags override
// bench.E2EDefaults of the chosen device only when given.
type benchFlags struct {
	json                         bool
	threads                      int
	device, preset, parts, out   string
	vocab, batch, seq, steps     int
	prompts, promptLen, newToks  int
	rlPreset                     string
	rlSteps, rlSFTSteps, rlProms int
	peak                         float64
}

func newBenchCmd() *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{Use: "bench cpu|kernels|e2e", Short: "benchmarks: cpu (CPU engine), kernels and e2e (GPU; e2e also --device cpu at small shapes)",
		Args: cobra.ExactArgs(1)}
	f := cmd.Flags()
	f.BoolVar(&bf.json, "json", false, "print the results as JSON")
	f.IntVar(&bf.threads, "threads", 0, "CPU engine threads (0 = all cores)")
	f.StringVar(&bf.device, "device", "auto", "engine of kernels/e2e: cuda, cpu, or auto (cuda when a GPU engine is available)")
	f.StringVar(&bf.parts, "parts", "train,generate,rl", "e2e parts to run")
	f.StringVar(&bf.preset, "preset", "", "e2e model preset (default gpt2-small on cuda, small on cpu)")
	f.IntVar(&bf.vocab, "vocab", 0, "e2e vocabulary size")
	f.IntVar(&bf.batch, "batch", 0, "e2e training batch rows")
	f.IntVar(&bf.seq, "seq", 0, "e2e training sequence length")
	f.IntVar(&bf.steps, "steps", 0, "e2e timed training steps")
	f.Float64Var(&bf.peak, "peak-tflops", -1, "MFU denominator in TFLOP/s (0: no MFU)")
	f.IntVar(&bf.prompts, "prompts", 0, "e2e generation prompts")
	f.IntVar(&bf.promptLen, "prompt-len", 0, "e2e generation prompt length")
	f.IntVar(&bf.newToks, "new-tokens", 0, "e2e generation new tokens per prompt")
	f.StringVar(&bf.rlPreset, "rl-preset", "", "e2e RL model preset")
	f.IntVar(&bf.rlSteps, "rl-steps", 0, "e2e RL steps per method")
	f.IntVar(&bf.rlSFTSteps, "rl-sft-steps", -1, "e2e SFT warm-up steps before the RL steps")
	f.IntVar(&bf.rlProms, "rl-prompts", 0, "e2e RL prompts per step")
	f.StringVar(&bf.out, "out", "", "keep the e2e RL run folders here (default: a temporary folder)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var res []bench.Result
		switch args[0] {
		case "cpu":
			var err error
			if res, err = bench.CPU(cpu.New(bf.threads)); err != nil {
				return err
			}
		case "kernels":
			dev, err := benchDevice(bf.device, "kernels")
			if err != nil {
				return err
			}
			shapes := bench.KernelDefaults(dev)
			be, err := benchEngine(dev, bf.threads)(bench.KernelPlan(shapes))
			if err != nil {
				return err
			}
			defer be.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "bench kernels on %s\n", be.Device())
			if res, err = bench.Kernels(be, shapes); err != nil {
				return err
			}
		case "e2e":
			dev, err := benchDevice(bf.device, "e2e")
			if err != nil {
				return err
			}
			cfg := bf.e2eConfig(dev)
			eng := bench.Engines{Bench: benchEngine(dev, bf.threads), Run: func(c train.Config) (backend.Backend, error) {
				c.Device, c.Threads = dev, bf.threads
				return newEngine(c)
			}}
			rep, err := bench.E2E(cmd.Context(), cfg, eng, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if bf.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device: %s (%.0f s)\n", rep.Device, rep.Seconds)
			res = rep.Results()
		default:
			return fmt.Errorf("bench: unknown suite %q (cpu, kernels, e2e)", args[0])
		}
		if bf.json {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		bench.Print(cmd.OutOrStdout(), res)
		return nil
	}
	return cmd
}

// benchDevice resolves --device for the GPU suites: cuda and auto need a
// GPU engine; cpu runs the same code on the CPU engine.
func benchDevice(device, suite string) (string, error) {
	switch device {
	case "cpu":
		return "cpu", nil
	case "cuda", "auto":
		if gpu.Available() && (device == "cuda" || !gpu.Emulated()) { // auto never picks the emulator
			return "cuda", nil
		}
		why := "no CUDA device"
		if gpu.Emulated() {
			why = "auto never picks the CUDA emulator of this cudaemu binary; --device cuda does"
		} else if _, err := gpu.New(gpu.PoolPlan{}); errors.Is(err, backend.ErrNoCUDA) {
			why = "this binary was built without -tags cuda"
		}
		return "", fmt.Errorf("bench %s: no GPU engine here (%s): run it on the GPU machine with the binary of scripts/build-gpu.sh (scripts/gpu-report.sh does), or pass --device cpu for the small CPU run", suite, why)
	}
	return "", fmt.Errorf("bench: --device %q is not one of cpu, cuda, auto", device)
}

// benchEngine opens the engine of a bench suite with the given pools.
func benchEngine(dev string, threads int) func(gpu.PoolPlan) (backend.Backend, error) {
	return func(plan gpu.PoolPlan) (backend.Backend, error) {
		if dev == "cuda" {
			return gpu.New(plan)
		}
		return cpu.New(threads), nil
	}
}

// e2eConfig is the device's defaults with the given flags applied.
func (bf benchFlags) e2eConfig(dev string) bench.E2EConfig {
	c := bench.E2EDefaults(dev)
	c.Parts = nil
	for _, p := range strings.Split(bf.parts, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Parts = append(c.Parts, p)
		}
	}
	setS := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setI := func(dst *int, v, unset int) {
		if v != unset {
			*dst = v
		}
	}
	setS(&c.Preset, bf.preset)
	setI(&c.Vocab, bf.vocab, 0)
	setI(&c.Batch, bf.batch, 0)
	setI(&c.Seq, bf.seq, 0)
	setI(&c.Steps, bf.steps, 0)
	setI(&c.Prompts, bf.prompts, 0)
	setI(&c.PromptLen, bf.promptLen, 0)
	setI(&c.NewTokens, bf.newToks, 0)
	setS(&c.RL.Preset, bf.rlPreset)
	setI(&c.RL.Steps, bf.rlSteps, 0)
	setI(&c.RL.SFTSteps, bf.rlSFTSteps, -1)
	setI(&c.RL.Prompts, bf.rlProms, 0)
	c.RL.Out = bf.out
	if bf.peak >= 0 {
		c.PeakTFLOPs = bf.peak
	}
	return c
}
