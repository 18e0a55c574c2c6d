package dist

import (
	"fmt"
	"strconv"
)

// Launch is where this process sits in the job: its rank, the world size,
// its rank on its node, and the rendezvous address of torchrun (NCCL's
// bootstrap uses it when NCCL_COMM_ID is unset).
type Launch struct {
	Rank, Size, LocalRank int
	// MasterAddr and MasterPort are torchrun's MASTER_ADDR/MASTER_PORT
	// (empty and 0 otherwise).
	MasterAddr string
	MasterPort int
	// Source names where the values came from: "flags", "torchrun",
	// "openmpi", "slurm" or "default" (one process).
	Source string
}

// launcher is one launch convention: the variables of rank, size and local
// rank it sets.
type launcher struct {
	source, rank, size, local string
}

// launchers are the conventions in the order ResolveLaunch tries them.
func launchers() [3]launcher {
	return [...]launcher{
		{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
		{"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
		{"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
	}
}

// ResolveLaunch decides the launch: flags when flags.Size > 0 (a LocalRank
// below 0 then means the same as Rank: one node), else the first convention
// whose rank variable is set — torchrun's RANK/WORLD_SIZE/LOCAL_RANK (with
// MASTER_ADDR/MASTER_PORT), Open MPI's OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK,
// Slurm's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID — else one process. A
// convention with its rank set must set its size too; a missing local rank
// is the rank. A value that is not an integer, a size below 1, or a rank or
// local rank outside 0..size-1 is an error naming the variable (or flag).
// getenv is os.Getenv in programs and a map lookup in tests.
func ResolveLaunch(flags Launch, getenv func(string) string) (Launch, error) {
	if flags.Size > 0 {
		l := flags
		l.Source = "flags"
		if l.LocalRank < 0 {
			l.LocalRank = l.Rank
		}
		if err := l.check("--rank", "--world-size", "--local-rank"); err != nil {
			return Launch{}, err
		}
		return l, nil
	}
	if flags.Size < 0 {
		return Launch{}, fmt.Errorf("dist: --world-size = %d, must be ≥ 1", flags.Size)
	}
	for _, lc := range launchers() {
		rs := getenv(lc.rank)
		if rs == "" {
			continue
		}
		l := Launch{Source: lc.source}
		var err error
		if l.Rank, err = envInt(lc.rank, rs); err != nil {
			return Launch{}, err
		}
		ss := getenv(lc.size)
		if ss == "" {
			return Launch{}, fmt.Errorf("dist: %s=%s is set but %s is not (%s launch)", lc.rank, rs, lc.size, lc.source)
		}
		if l.Size, err = envInt(lc.size, ss); err != nil {
			return Launch{}, err
		}
		l.LocalRank = l.Rank
		if ls := getenv(lc.local); ls != "" {
			if l.LocalRank, err = envInt(lc.local, ls); err != nil {
				return Launch{}, err
			}
		}
		if lc.source == "torchrun" {
			l.MasterAddr = getenv("MASTER_ADDR")
			if ps := getenv("MASTER_PORT"); ps != "" {
				if l.MasterPort, err = envInt("MASTER_PORT", ps); err != nil {
					return Launch{}, err
				}
				if l.MasterPort < 1 || l.MasterPort > 65535 {
					return Launch{}, fmt.Errorf("dist: MASTER_PORT=%d is not a TCP port", l.MasterPort)
				}
			}
		}
		if err := l.check(lc.rank, lc.size, lc.local); err != nil {
			return Launch{}, err
		}
		return l, nil
	}
	return Launch{Size: 1, Source: "default"}, nil
}

// envInt parses the integer value v of variable name.
func envInt(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("dist: %s=%q is not an integer", name, v)
	}
	return n, nil
}

// check validates the launch, naming rank, size and local as the source
// spells them.
func (l Launch) check(rank, size, local string) error {
	switch {
	case l.Size < 1:
		return fmt.Errorf("dist: %s=%d, must be ≥ 1", size, l.Size)
	case l.Rank < 0 || l.Rank >= l.Size:
		return fmt.Errorf("dist: %s=%d is outside 0..%d (%s=%d)", rank, l.Rank, l.Size-1, size, l.Size)
	case l.LocalRank < 0 || l.LocalRank >= l.Size:
		return fmt.Errorf("dist: %s=%d is outside 0..%d (%s=%d)", local, l.LocalRank, l.Size-1, size, l.Size)
	}
	return nil
}
