package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/gpu"
	"github.com/sirl-dev/sirl/train"
)

// stageCmd builds run/sft/rl/eval: load the config, pick the engine, run
// the stages, write the run folder.
func stageCmd(use, short string, stages []string) *cobra.Command {
	c := &common{}
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	addCommon(cmd, c)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd.Flags(), c.config)
		if err != nil {
			return err
		}
		if stages != nil {
			cfg.Stages = stages
		}
		if c.resume != "" {
			// The resumed run keeps its own resolved config.
			if cfg, err = loadRunConfig(c.resume); err != nil {
				return err
			}
		}
		return runStages(cmd, cfg, c)
	}
	return cmd
}

func runStages(cmd *cobra.Command, cfg train.Config, c *common) error {
	be, err := newEngine(cfg)
	if err != nil {
		return err
	}
	out := c.out
	if c.resume != "" {
		out = c.resume
	}
	if out == "" {
		out = filepath.Join("runs", cfg.Name)
	}
	yml, err := configYAML(cfg)
	if err != nil {
		return err
	}
	sum, err := train.Run(cmd.Context(), be, cfg, train.Options{
		Out: out, ConfigYAML: yml, Resume: c.resume != "", Checkpoint: c.checkpoint,
		ModelDir: c.modelDir, Log: cmd.ErrOrStderr(),
	})
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	return nil
}

// loadRunConfig reads the resolved config.yaml of a run folder.
func loadRunConfig(dir string) (train.Config, error) {
	p := filepath.Join(dir, "config.yaml")
	if _, err := os.Stat(p); err != nil {
		return train.Config{}, fmt.Errorf("--resume %s: no config.yaml there (%v)", dir, err)
	}
	return loadConfig(nil, p)
}

// newEngine picks the engine named by the device key.
func newEngine(cfg train.Config) (backend.Backend, error) {
	switch cfg.Device {
	case "cpu":
		return cpu.New(cfg.Threads), nil
	case "cuda":
		return gpu.New(planMemory(cfg))
	default: // auto: a real GPU, never the emulator (a test instrument)
		if gpu.Available() && !gpu.Emulated() {
			return gpu.New(planMemory(cfg))
		}
		return cpu.New(cfg.Threads), nil
	}
}
