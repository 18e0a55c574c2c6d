package cli

import (
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/dist"
)

func TestCommKind(t *testing.T) {
	multi := func(src string) dist.Launch { return dist.Launch{Rank: 1, Size: 2, Source: src} }
	for _, tc := range []struct {
		flag string
		l    dist.Launch
		want string
		err  string // a part of the error, when one is wanted
	}{
		{"auto", dist.Launch{Size: 1, Source: "default"}, dist.KindSingle, ""},
		{"", dist.Launch{Size: 1, Source: "openmpi"}, dist.KindSingle, ""},
		{"mpi", dist.Launch{Size: 1, Source: "default"}, dist.KindMPI, ""},
		{"single", multi("flags"), dist.KindSingle, ""},
		{"gloo", multi("flags"), "", "want auto, single, mpi or nccl"},
	} {
		got, err := commKind(tc.flag, tc.l)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("commKind(%q, %+v) = %q, %v; want an error with %q", tc.flag, tc.l, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("commKind(%q, %+v) = %q, %v; want %q", tc.flag, tc.l, got, err, tc.want)
		}
	}
	// auto with more than one rank: the build's communicator.
	for _, src := range []string{"openmpi", "slurm", "flags", "torchrun"} {
		got, err := commKind("auto", multi(src))
		switch {
		case src == "torchrun" && dist.NCCLBuilt:
			if got != dist.KindNCCL {
				t.Errorf("auto for torchrun in the cuda build: %q, %v", got, err)
			}
		case dist.MPIBuilt:
			if got != dist.KindMPI {
				t.Errorf("auto for %s in the mpi build: %q, %v", src, got, err)
			}
		case !dist.NCCLBuilt:
			if err == nil || !strings.Contains(err.Error(), "no communicator") {
				t.Errorf("auto for %s without a communicator: %q, %v", src, got, err)
			}
		}
	}
}

// TestOpenCommRejects: a world of 2 ranks in the default build (no MPI, no
// NCCL) is refused with the build tags to use, and a bad launch variable is
// named.
func TestOpenCommRejects(t *testing.T) {
	env := map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "x"}
	if _, err := openComm(distFlags{kind: "auto", localRank: -1}, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "OMPI_COMM_WORLD_SIZE") {
		t.Errorf("bad OMPI_COMM_WORLD_SIZE: %v", err)
	}
	if dist.MPIBuilt || dist.NCCLBuilt {
		return
	}
	_, err := openComm(distFlags{kind: "auto", size: 2, localRank: -1}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "-tags mpi") {
		t.Errorf("2 ranks without a communicator: %v", err)
	}
}
