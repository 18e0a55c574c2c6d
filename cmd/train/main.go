// Command train runs sirl: SFT, RL (GRPO, DAPO, Dr. GRPO, GSPO, VinePPO-style
// and SIRL) and evaluation of small language models on verifiable reasoning
// tasks, on the CPU engine or (built with -tags cuda) on an NVIDIA GPU. It
// is package cli; `train` with no subcommand runs the quickstart.
package main

import (
	"os"

	"github.com/sirl-dev/sirl/cli"
)

func main() { os.Exit(cli.Main()) }
