// Command cpupeer times the CPU engine's sgemm on cpu.PeerShapes with each
// matmul kernel this CPU runs and, with -peer, a peer (OpenBLAS through
// numpy: scripts/peer/openblas_sgemm.py) on the same shapes in the same
// rounds, and prints GFLOP/s and the ratios. scripts/bench-cpu-peer.sh runs
// it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirl-dev/sirl/backend/cpu"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cpupeer:", err)
		os.Exit(1)
	}
}

// peerResult is one line of the peer's output.
type peerResult struct {
	Name   string  `json:"name"`
	GFLOPS float64 `json:"gflops"`
	Core   string  `json:"core"`
}

// peer is a running peer process: one shape (JSON) in, one result out.
type peer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startPeer(command string) (*peer, error) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer %q: %w", command, err)
	}
	return &peer{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

func (p *peer) time(s cpu.SgemmShape) (peerResult, error) {
	var r peerResult
	line, err := json.Marshal(s)
	if err != nil {
		return r, err
	}
	if _, err := fmt.Fprintf(p.in, "%s\n", line); err != nil {
		return r, fmt.Errorf("peer: %w", err)
	}
	if !p.out.Scan() {
		return r, fmt.Errorf("peer: no answer for %s (%v)", s.Name, p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("peer answer %q: %w", p.out.Text(), err)
	}
	return r, nil
}

func (p *peer) close() error {
	p.in.Close()
	return p.cmd.Wait()
}

func run() error {
	var kernels []string
	for _, k := range cpu.Kernels() {
		if k != "go" { // the portable kernel is the reference, not a contender
			kernels = append(kernels, k)
		}
	}
	list := flag.Bool("list", false, "print the shapes as JSON lines and exit")
	kflag := flag.String("kernels", strings.Join(kernels, ","), "comma-separated matmul kernels to time (of "+strings.Join(cpu.Kernels(), ", ")+")")
	threads := flag.Int("threads", 0, "engine threads (0: GOMAXPROCS)")
	rounds := flag.Int("rounds", 3, "rounds over all shapes; the best timing of each is kept")
	minTime := flag.Duration("min", 200*time.Millisecond, "length of one timing")
	peerCmd := flag.String("peer", "", "shell command of the peer (reads shapes as JSON lines, answers one JSON line each)")
	cpuTime := flag.Bool("cputime", false, "time by the CPU time of the computing thread, not the wall clock (needs -threads 1; give the peer its --cputime too)")
	flag.Parse()
	if *list {
		enc := json.NewEncoder(os.Stdout)
		for _, s := range cpu.PeerShapes() {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	var clock func() time.Duration
	if *cpuTime {
		if *threads != 1 {
			return fmt.Errorf("-cputime needs -threads 1 (the product must run on the timed thread)")
		}
		runtime.LockOSThread()
		var err error
		if clock, err = threadClock(); err != nil {
			return err
		}
	}
	kernels = strings.Split(*kflag, ",")
	engines := make([]*cpu.Engine, len(kernels))
	for i, k := range kernels {
		engines[i] = cpu.New(*threads)
		if err := engines[i].UseKernel(k); err != nil {
			return err
		}
	}
	var p *peer
	if *peerCmd != "" {
		var err error
		if p, err = startPeer(*peerCmd); err != nil {
			return err
		}
	}
	shapes := cpu.PeerShapes()
	best := make([][]float64, len(shapes)) // [shape][kernel..., peer]
	for i := range best {
		best[i] = make([]float64, len(kernels)+1)
	}
	core := ""
	for r := 0; r < *rounds; r++ {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r+1, *rounds)
		for i, s := range shapes {
			for j, e := range engines {
				g, err := cpu.TimeSgemm(e, s, 1, *minTime, clock)
				if err != nil {
					return err
				}
				best[i][j] = max(best[i][j], g)
			}
			if p != nil {
				res, err := p.time(s)
				if err != nil {
					return err
				}
				best[i][len(kernels)] = max(best[i][len(kernels)], res.GFLOPS)
				core = res.Core
			}
		}
	}
	if p != nil {
		if err := p.close(); err != nil {
			return fmt.Errorf("peer: %w", err)
		}
	}
	how := "wall clock"
	if *cpuTime {
		how = "thread CPU time"
	}
	fmt.Printf("sgemm GFLOP/s, engine %d threads (%s), best of %d rounds of %v (%s)\n", engines[0].Threads(), engines[0].Device(), *rounds, *minTime, how)
	if p != nil {
		fmt.Printf("peer: %s\n", core)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := append([]string{"shape"}, kernels...)
	if p != nil {
		head = append(head, "openblas")
		for _, k := range kernels {
			head = append(head, k+"/openblas")
		}
	}
	fmt.Fprintln(w, strings.Join(head, "\t")+"\t")
	for i, s := range shapes {
		row := []string{s.Name}
		for _, g := range best[i] {
			if p != nil || len(row) <= len(kernels) {
				row = append(row, fmt.Sprintf("%.1f", g))
			}
		}
		if p != nil {
			for j := range kernels {
				row = append(row, fmt.Sprintf("%.2f", best[i][j]/best[i][len(kernels)]))
			}
		}
		row = slices.Clip(row)
		fmt.Fprintln(w, strings.Join(row, "\t")+"\t")
	}
	return w.Flush()
}
