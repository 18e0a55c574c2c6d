package dist_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/dist"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestResolveLaunch(t *testing.T) {
	unset := dist.Launch{}
	tests := []struct {
		name  string
		flags dist.Launch
		env   func(string) string
		want  dist.Launch
		err   string // the error names this
	}{
		{name: "nothing: one process", flags: unset, env: env(), want: dist.Launch{Size: 1, Source: "default"}},
		{name: "flags", flags: dist.Launch{Rank: 1, Size: 4, LocalRank: -1}, env: env("RANK", "3", "WORLD_SIZE", "8"),
			want: dist.Launch{Rank: 1, Size: 4, LocalRank: 1, Source: "flags"}},
		{name: "flags with local rank", flags: dist.Launch{Rank: 5, Size: 8, LocalRank: 1}, env: env(),
			want: dist.Launch{Rank: 5, Size: 8, LocalRank: 1, Source: "flags"}},
		{name: "torchrun", env: env("RANK", "2", "WORLD_SIZE", "4", "LOCAL_RANK", "0", "MASTER_ADDR", "node0", "MASTER_PORT", "29500",
			"OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2"),
			want: dist.Launch{Rank: 2, Size: 4, LocalRank: 0, MasterAddr: "node0", MasterPort: 29500, Source: "torchrun"}},
		{name: "openmpi", env: env("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "3", "OMPI_COMM_WORLD_LOCAL_RANK", "1",
			"SLURM_PROCID", "0", "SLURM_NTASKS", "1"),
			want: dist.Launch{Rank: 1, Size: 3, LocalRank: 1, Source: "openmpi"}},
		{name: "slurm, no local id", env: env("SLURM_PROCID", "6", "SLURM_NTASKS", "8"),
			want: dist.Launch{Rank: 6, Size: 8, LocalRank: 6, Source: "slurm"}},
		{name: "rank ≥ size", env: env("RANK", "4", "WORLD_SIZE", "4"), err: "RANK=4"},
		{name: "negative rank", env: env("SLURM_PROCID", "-1", "SLURM_NTASKS", "2"), err: "SLURM_PROCID=-1"},
		{name: "size 0", env: env("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "0"), err: "OMPI_COMM_WORLD_SIZE=0"},
		{name: "size missing", env: env("RANK", "0"), err: "WORLD_SIZE"},
		{name: "not a number", env: env("RANK", "one", "WORLD_SIZE", "2"), err: `RANK="one"`},
		{name: "local rank out of range", env: env("RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "2"), err: "LOCAL_RANK=2"},
		{name: "bad port", env: env("RANK", "0", "WORLD_SIZE", "2", "MASTER_PORT", "70000"), err: "MASTER_PORT=70000"},
		{name: "flag rank ≥ size", flags: dist.Launch{Rank: 2, Size: 2}, env: env(), err: "--rank=2"},
		{name: "flag size negative", flags: dist.Launch{Size: -2}, env: env(), err: "--world-size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dist.ResolveLaunch(tc.flags, tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, err %v; want an error naming %s", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestShard(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{0, 1}, {7, 1}, {16, 2}, {17, 3}, {2, 5}, {100, 8}} {
		next, sizes := 0, map[int]bool{}
		for r := range tc.size {
			lo, hi, err := dist.Shard(tc.n, r, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if lo != next || hi < lo {
				t.Fatalf("n %d size %d rank %d: [%d, %d), want it to start at %d", tc.n, tc.size, r, lo, hi, next)
			}
			next = hi
			sizes[hi-lo] = true
		}
		if next != tc.n || len(sizes) > 2 {
			t.Errorf("n %d size %d: ranges end at %d with sizes %v", tc.n, tc.size, next, sizes)
		}
	}
	if lo, hi, _ := dist.Shard(17, 0, 3); lo != 0 || hi != 6 {
		t.Errorf("rank 0 of 3 over 17: [%d, %d), want [0, 6)", lo, hi)
	}
	for _, bad := range [][3]int{{-1, 0, 1}, {4, 2, 2}, {4, -1, 2}, {4, 0, 0}} {
		if _, _, err := dist.Shard(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("Shard%v: no error", bad)
		}
	}
}

func TestSingleAndOpen(t *testing.T) {
	c, err := dist.Open(dist.KindSingle, dist.Launch{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	buf := []float32{1.5, -2}
	if err := c.AllReduceF32(buf); err != nil || buf[0] != 1.5 || buf[1] != -2 || c.Size() != 1 || c.Rank() != 0 {
		t.Errorf("single all-reduce: %v, %v", buf, err)
	}
	if err := c.Broadcast([]byte{1}, 1); err == nil {
		t.Error("broadcast from rank 1 of 1: no error")
	}
	if _, err := dist.Open(dist.KindSingle, dist.Launch{Size: 2, Source: "torchrun"}); err == nil || !strings.Contains(err.Error(), "torchrun") {
		t.Errorf("single comm for 2 ranks: %v", err)
	}
	if _, err := dist.Open("gloo", dist.Launch{Size: 1}); err == nil {
		t.Error("unknown kind: no error")
	}
	if !dist.NCCLBuilt {
		if _, err := dist.Open(dist.KindNCCL, dist.Launch{Size: 1}); !errors.Is(err, dist.ErrNotBuilt) {
			t.Errorf("nccl without the cuda build: %v", err)
		}
	}
}

func TestGatherAndMetrics(t *testing.T) {
	for _, size := range []int{1, 2, 3} {
		const n = 10
		got := make([][]float64, size)
		noErrors(t, onRanks(t, size, func(c dist.Comm) error {
			lo, hi, _ := dist.Shard(n, c.Rank(), c.Size())
			var local []float64
			for i := lo; i < hi; i++ {
				local = append(local, float64(i*i)+0.25)
			}
			all, err := dist.GatherF64(c, n, local)
			got[c.Rank()] = all
			if err != nil {
				return err
			}
			m := map[string]float64{"tokens": float64(100 + c.Rank()), "reward_sum": 0.5}
			if err := dist.ReduceMetrics(c, m); err != nil {
				return err
			}
			if want := float64(100*c.Size() + c.Size()*(c.Size()-1)/2); m["tokens"] != want || m["reward_sum"] != 0.5*float64(c.Size()) {
				return fmt.Errorf("rank %d: metrics %v, tokens want %g", c.Rank(), m, want)
			}
			return nil
		}))
		for r, all := range got {
			for i, v := range all {
				if v != float64(i*i)+0.25 {
					t.Fatalf("size %d rank %d: gathered %v", size, r, all)
				}
			}
		}
	}
	// Disagreeing metric names: every rank errs (none reduces a buffer of
	// another length), including a rank whose header is the others' mean.
	errs := onRanks(t, 3, func(c dist.Comm) error {
		m := map[string]float64{"a": 1}
		for i := range c.Rank() {
			m[fmt.Sprint("k", i)] = 1
		}
		return dist.ReduceMetrics(c, m)
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "disagree") {
			t.Errorf("rank %d: %v, want a disagreement error", r, err)
		}
	}
	errs = onRanks(t, 2, func(c dist.Comm) error {
		_, err := dist.GatherF64(c, 5, []float64{1})
		return err
	})
	if errs[0] == nil {
		t.Error("gather with the wrong local count: no error on rank 0")
	}
}

func TestOnRoot(t *testing.T) {
	wrote := make([]bool, 3)
	noErrors(t, onRanks(t, 3, func(c dist.Comm) error {
		return dist.OnRoot(c, func() error { wrote[c.Rank()] = true; return nil })
	}))
	if !slices.Equal(wrote, []bool{true, false, false}) {
		t.Errorf("writers %v, want rank 0 alone", wrote)
	}
	errs := onRanks(t, 3, func(c dist.Comm) error {
		return dist.OnRoot(c, func() error { return errors.New("disk full") })
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "disk full") || (r > 0) != errors.Is(err, dist.ErrRootFailed) {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestGradReducer reduces gradients of CPU-engine tensors on 1, 2 and 3
// fake ranks: every rank ends with the sum, bit for bit the same.
func TestGradReducer(t *testing.T) {
	shapes := [][]int{{3, 5}, {7}, {2, 2, 2}}
	val := func(rank, ti, i int) float32 { return float32(rank+1)*0.5 + float32(ti*100+i) }
	for _, size := range []int{1, 2, 3} {
		got := make([][][]float32, size)
		noErrors(t, onRanks(t, size, func(c dist.Comm) error {
			be := cpu.New(1)
			var ts []backend.Tensor
			for ti, s := range shapes {
				x := be.Alloc(backend.Optim, backend.F32, s...)
				v := make([]float32, x.Len())
				for i := range v {
					v[i] = val(c.Rank(), ti, i)
				}
				be.Upload(x, v)
				ts = append(ts, x)
			}
			g := dist.NewGradReducer(c, be)
			for range 2 { // the staging buffer is reused
				if err := g.AllReduce(ts); err != nil {
					return err
				}
			}
			for _, x := range ts {
				v := make([]float32, x.Len())
				be.Download(x, v)
				got[c.Rank()] = append(got[c.Rank()], v)
			}
			return be.Err()
		}))
		for ti := range shapes {
			for i, v := range got[0][ti] {
				var want float32 // after two reductions: size × the first sum
				for r := range size {
					want += val(r, ti, i)
				}
				if size > 1 {
					want *= float32(size)
				}
				if v != want {
					t.Fatalf("size %d tensor %d [%d] = %g, want %g", size, ti, i, v, want)
				}
				for r := 1; r < size; r++ {
					if got[r][ti][i] != v {
						t.Fatalf("size %d: rank %d differs from rank 0", size, r)
					}
				}
			}
		}
	}
	if b := dist.Bytes([]backend.Tensor{cpu.New(1).Alloc(backend.Optim, backend.F32, 10, 3)}); b != 120 {
		t.Errorf("Bytes = %d, want 120", b)
	}
}
