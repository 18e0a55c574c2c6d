// Package cli holds the `train` command: its subcommands, flags and config
// loading, and the choice of engine (the one package that opens engines).
//
// `train` with no subcommand is `train run` on the embedded
// configs/quickstart.yaml.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Main runs the command line of os.Args, cancelled by SIGINT or SIGTERM, and
// returns the process exit code (errors are printed on stderr).
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := NewRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		return 1
	}
	return 0
}

// common holds the flags every subcommand takes.
type common struct {
	config, out, resume, checkpoint, modelDir string
	json                                      bool
	dist                                      distFlags
}

// NewRootCmd builds the `train` command with its subcommands.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "train",
		Short:         "RL for reasoning with self-identified, self-corrected process signals (SIRL)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	runCmd := stageCmd("run", "run the stages the config lists (default: sft → rl → eval)", nil)
	root.RunE = runCmd.RunE
	root.Flags().AddFlagSet(runCmd.Flags())
	root.AddCommand(runCmd,
		stageCmd("sft", "supervised warm-up only", []string{"sft"}),
		stageCmd("rl", "RL only (from --checkpoint or --model)", []string{"rl", "eval"}),
		stageCmd("eval", "evaluate a checkpoint or model folder", []string{"eval"}),
		newCompareCmd(), newSampleCmd(), newTokenizeCmd(), newBenchCmd())
	addProfileFlag(root)
	return root
}

// addCommon registers the flags of every subcommand on cmd.
func addCommon(cmd *cobra.Command, c *common) {
	f := cmd.Flags()
	f.StringVar(&c.config, "config", "", "YAML config file (default: the embedded configs/quickstart.yaml)")
	f.StringVar(&c.out, "out", "", "run folder (default runs/<name>)")
	f.BoolVar(&c.json, "json", false, "print summary.json on stdout")
	f.StringVar(&c.resume, "resume", "", "resume the run in this folder from its last checkpoint")
	f.StringVar(&c.checkpoint, "checkpoint", "", "start from this checkpoint (.safetensors)")
	f.StringVar(&c.modelDir, "model", "", "start from this Hugging Face model folder")
	addDistFlags(f, &c.dist)
	// --log-samples is the spelling users know from other trainers.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "log-samples" {
			name = "log_samples"
		}
		return pflag.NormalizedName(name)
	})
	if err := addConfigFlags(f); err != nil {
		panic(err) // the defaults are ours: a failure here is a programming error
	}
}
