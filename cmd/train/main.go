// Command train is sirl's one binary (package cli): SFT, RL with GRPO, DAPO,
// Dr GRPO, GSPO, VinePPO-style and SIRL, and evaluation of small language
// models on verifiable reasoning tasks, on the CPU engine or (built with
// -tags cuda) on an NVIDIA GPU; with no subcommand it runs the quickstart.
package main

import (
	"os"

	"github.com/sirl-dev/sirl/cli"
)

func main() { os.Exit(cli.Main()) }
