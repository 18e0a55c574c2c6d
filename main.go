// Command sirl is the `train` command (see package cli) for `go run .`: with
// no arguments it runs the quickstart, configs/quickstart.yaml. `go build
// ./cmd/train` or `go install github.com/sirl-dev/sirl/cmd/train` give the
// same command as a binary named train.
package main

import (
	"os"

	"github.com/sirl-dev/sirl/cli"
)

func main() { os.Exit(cli.Main()) }
