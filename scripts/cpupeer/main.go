// Command cpupeer times the CPU engine's sgemm on cpu.PeerShapes with each
// matmul kernel this CPU runs and prints one JSON object per line
// ({"impl", "name", "gflops"}); with -list it prints the shapes instead.
// scripts/bench-cpu-peer.sh runs it beside OpenBLAS.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sirl-dev/sirl/backend/cpu"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cpupeer:", err)
		os.Exit(1)
	}
}

func run() error {
	list := flag.Bool("list", false, "print the shapes as JSON lines and exit")
	kernels := flag.String("kernels", strings.Join(cpu.Kernels(), ","), "comma-separated matmul kernels to time")
	threads := flag.Int("threads", 0, "engine threads (0: GOMAXPROCS)")
	rounds := flag.Int("rounds", 3, "timings per shape and kernel (the best is printed)")
	minTime := flag.Duration("min", 200*time.Millisecond, "length of one timing")
	flag.Parse()
	enc := json.NewEncoder(os.Stdout)
	if *list {
		for _, s := range cpu.PeerShapes() {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range cpu.PeerShapes() {
		for _, k := range strings.Split(*kernels, ",") {
			e := cpu.New(*threads)
			if err := e.UseKernel(k); err != nil {
				return err
			}
			g, err := cpu.TimeSgemm(e, s, *rounds, *minTime)
			if err != nil {
				return err
			}
			if err := enc.Encode(map[string]any{"impl": "engine " + k, "name": s.Name, "gflops": g, "threads": e.Threads()}); err != nil {
				return err
			}
		}
	}
	return nil
}
