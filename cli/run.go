package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/dist"
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

// runStages runs the stages in this process, one rank of the data-parallel
// group the launch describes (train/dp.go): every rank trains its share,
// rank 0 alone logs and writes the run folder, and an error on any rank
// ends the whole job.
func runStages(cmd *cobra.Command, cfg train.Config, c *common) error {
	comm, err := openComm(c.dist, os.Getenv)
	if err != nil {
		return err
	}
	return endRank(comm, runRank(cmd, cfg, c, comm))
}

func runRank(cmd *cobra.Command, cfg train.Config, c *common, comm dist.Comm) error {
	out := c.out
	if c.resume != "" {
		out = c.resume
	}
	ckpt := c.checkpoint
	if c.resume != "" {
		ckpt = filepath.Join(out, train.CheckpointName)
	}
	be, err := openEngine(cfg, func() (backend.PoolPlan, error) {
		return planMemory(cfg, modelSource(cfg, ckpt, c.modelDir))
	})
	if err != nil {
		return err
	}
	defer be.Close()
	if out == "" {
		out = filepath.Join("runs", cfg.Name)
	}
	yml, err := configYAML(cfg)
	if err != nil {
		return err
	}
	logw := cmd.ErrOrStderr()
	if comm.Rank() != 0 {
		logw = io.Discard
	}
	sum, err := train.Run(cmd.Context(), be, cfg, train.Options{
		Out: out, ConfigYAML: yml, Resume: c.resume != "", Checkpoint: c.checkpoint,
		ModelDir: c.modelDir, Log: logw, Comm: comm,
	})
	if err != nil {
		return err
	}
	if c.json && comm.Rank() == 0 {
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
	return loadConfigFrom(nil, p, true)
}

// newEngine picks the engine named by the device key for a run whose model
// comes from its preset (compare, bench).
func newEngine(cfg train.Config) (backend.Backend, error) {
	return openEngine(cfg, func() (backend.PoolPlan, error) { return planMemory(cfg, modelSource(cfg, "", "")) })
}

// openEngine picks the engine named by the device key; a GPU engine's pools
// come from plan (not called for the CPU engine). auto takes a real GPU,
// never the emulator (a test instrument): that one needs --device cuda.
func openEngine(cfg train.Config, plan func() (backend.PoolPlan, error)) (backend.Backend, error) {
	if cfg.Device == "cpu" || cfg.Device != "cuda" && !(gpu.Available() && !gpu.Emulated()) {
		return cpu.New(cfg.Threads), nil
	}
	p, err := plan()
	if err != nil {
		return nil, err
	}
	return gpu.New(p)
}
