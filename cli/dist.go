package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/sirl-dev/sirl/dist"
)

// distFlags are the data-parallel flags of the training commands.
type distFlags struct {
	kind                  string // --dist: auto, single, mpi, nccl
	rank, size, localRank int    // --rank, --world-size, --local-rank
}

// addDistFlags registers --dist, --rank, --world-size and --local-rank.
func addDistFlags(f *pflag.FlagSet, d *distFlags) {
	f.StringVar(&d.kind, "dist", "auto", "communicator across processes: auto (mpi when launched by mpirun/srun with more than one rank, nccl for torchrun in the cuda build, else single), single, mpi (build tag mpi), nccl (build tag cuda)")
	f.IntVar(&d.rank, "rank", 0, "this process's rank (with --world-size; default: torchrun's RANK, Open MPI's OMPI_COMM_WORLD_RANK or Slurm's SLURM_PROCID)")
	f.IntVar(&d.size, "world-size", 0, "number of processes (0: from the launcher's variables, else 1)")
	f.IntVar(&d.localRank, "local-rank", -1, "rank on this node, which picks the GPU (-1: the launcher's, else --rank)")
}

// openComm resolves the launch (flags, then torchrun, Open MPI and Slurm
// variables) and opens the communicator --dist names.
func openComm(d distFlags, getenv func(string) string) (dist.Comm, error) {
	l, err := dist.ResolveLaunch(dist.Launch{Rank: d.rank, Size: d.size, LocalRank: d.localRank}, getenv)
	if err != nil {
		return nil, err
	}
	kind, err := commKind(d.kind, l)
	if err != nil {
		return nil, err
	}
	if kind == dist.KindNCCL && l.Size > 1 && getenv("CUDA_VISIBLE_DEVICES") == "" {
		// The local rank picks the GPU: this process sees only that one
		// (set before NCCL or the engine initialise CUDA; untested on GPUs).
		if err := os.Setenv("CUDA_VISIBLE_DEVICES", strconv.Itoa(l.LocalRank)); err != nil {
			return nil, fmt.Errorf("CUDA_VISIBLE_DEVICES for local rank %d: %w", l.LocalRank, err)
		}
	}
	c, err := dist.Open(kind, l)
	if err != nil {
		return nil, fmt.Errorf("--dist %s: %w", d.kind, err)
	}
	return c, nil
}

// commKind is the communicator of --dist for the launch l: auto picks
// single for one rank, nccl for torchrun in the cuda build, else mpi.
func commKind(flag string, l dist.Launch) (string, error) {
	switch flag {
	case dist.KindSingle, dist.KindMPI, dist.KindNCCL:
		return flag, nil
	case "auto", "":
	default:
		return "", fmt.Errorf("--dist %q: want auto, single, mpi or nccl", flag)
	}
	switch {
	case l.Size == 1:
		return dist.KindSingle, nil
	case l.Source == "torchrun" && dist.NCCLBuilt:
		return dist.KindNCCL, nil
	case dist.MPIBuilt:
		return dist.KindMPI, nil
	case dist.NCCLBuilt:
		return dist.KindNCCL, nil
	}
	return "", fmt.Errorf("%d ranks (from %s) but this binary has no communicator: build with -tags mpi (CPU, Open MPI) or -tags cuda (NCCL)", l.Size, l.Source)
}

// endRank ends this rank after the run: with more than one rank an error
// aborts the whole job (no rank waits forever in a collective), else the
// group is left.
func endRank(c dist.Comm, err error) error {
	if err != nil && c.Size() > 1 {
		c.Abort(1, err)
		os.Exit(1) // Abort does not return
	}
	if cerr := c.Close(); err == nil && cerr != nil {
		return fmt.Errorf("leaving the process group: %w", cerr)
	}
	return err
}
