//go:build cuda && !mpi

package dist_test

import (
	"math"
	"testing"
	"time"

	"github.com/sirl-dev/sirl/dist"
)

// TestNCCLOneRank is the GPU report's NCCL check: one rank's all-reduce,
// broadcast and barrier through the device staging buffer, on a machine
// with a GPU and libnccl.so.2 (SIRL_NCCL names another path). It fails
// where they are missing: build it with -tags cuda and run it there
// (go test -tags cuda -run NCCL ./dist).
func TestNCCLOneRank(t *testing.T) {
	c, err := dist.Open(dist.KindNCCL, dist.Launch{Size: 1, Source: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 64 << 20 // 256 MiB of float32
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = float32(i%1000) * 0.25
	}
	t0 := time.Now()
	if err := c.AllReduceF32(buf); err != nil {
		t.Fatal(err)
	}
	sec := time.Since(t0).Seconds()
	for i, v := range buf {
		if v != float32(i%1000)*0.25 {
			t.Fatalf("[%d] = %g after a one-rank all-reduce", i, v)
		}
	}
	t.Logf("one-rank all-reduce of %d MiB through host staging: %.1f ms (%.1f GB/s host↔device)", 4*n>>20, sec*1e3, 2*4*n/sec/1e9)
	d := []float64{math.Pi, -1e300}
	if err := c.AllReduceF64(d); err != nil || d[0] != math.Pi || d[1] != -1e300 {
		t.Errorf("float64 all-reduce: %v, %v", d, err)
	}
	b := []byte("broadcast")
	if err := c.Broadcast(b, 0); err != nil || string(b) != "broadcast" {
		t.Errorf("broadcast: %q, %v", b, err)
	}
	if err := c.Barrier(); err != nil {
		t.Error(err)
	}
}
