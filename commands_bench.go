package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/bench"
)

func newBenchCmd() *cobra.Command {
	var asJSON bool
	var threads int
	cmd := &cobra.Command{Use: "bench cpu|kernels|e2e", Short: "benchmarks (GPU ones need a cuda build on a GPU)", Args: cobra.ExactArgs(1)}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().IntVar(&threads, "threads", 0, "CPU engine threads (0 = all cores)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var res []bench.Result
		var err error
		switch args[0] {
		case "cpu":
			res, err = bench.CPU(cpu.New(threads))
		case "kernels", "e2e":
			err = fmt.Errorf("bench %s: runs on the GPU machine through scripts/gpu-report.sh (needs a -tags cuda build and a GPU)", args[0])
		default:
			err = fmt.Errorf("bench: unknown suite %q (cpu, kernels, e2e)", args[0])
		}
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		bench.Print(cmd.OutOrStdout(), res)
		return nil
	}
	return cmd
}
