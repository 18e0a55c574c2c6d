package cpu

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirl-dev/sirl/backend"
)

// SgemmShape is one C = op(A)·op(B) product for the sgemm benchmarks:
// op(A) is M×K, op(B) is K×N, every matrix row-major and unpadded.
type SgemmShape struct {
	Name           string `json:"name"`
	M              int    `json:"m"`
	N              int    `json:"n"`
	K              int    `json:"k"`
	TransA, TransB bool
}

// Flops is the shape's floating-point operation count, 2·M·N·K.
func (s SgemmShape) Flops() float64 { return 2 * float64(s.M) * float64(s.N) * float64(s.K) }

// PeerShapes are the products compared against OpenBLAS by
// scripts/bench-cpu-peer.sh: square ones, a tall-skinny one, the small
// preset's training products (1280 tokens, d 128, ffn 352: forward x·Wᵀ and
// weight gradient dYᵀ·X) and a 0.5B model's (512 tokens, d 896, ffn 4864).
func PeerShapes() []SgemmShape {
	return []SgemmShape{
		{Name: "256^3", M: 256, N: 256, K: 256},
		{Name: "1024^3", M: 1024, N: 1024, K: 1024},
		{Name: "2048x128x128", M: 2048, N: 128, K: 128},
		{Name: "small qkv x.Wt", M: 1280, N: 128, K: 128, TransB: true},
		{Name: "small ffn-up x.Wt", M: 1280, N: 352, K: 128, TransB: true},
		{Name: "small ffn-down x.Wt", M: 1280, N: 128, K: 352, TransB: true},
		{Name: "small ffn-up dYt.X", M: 352, N: 128, K: 1280, TransA: true},
		{Name: "0.5B qkv x.Wt", M: 512, N: 896, K: 896, TransB: true},
		{Name: "0.5B ffn-up x.Wt", M: 512, N: 4864, K: 896, TransB: true},
		{Name: "0.5B ffn-down x.Wt", M: 512, N: 896, K: 4864, TransB: true},
	}
}

// TimeSgemm returns e's best GFLOP/s on s over rounds timings, each of as
// many products as fill minTime of clock (after one warm-up product). A nil
// clock is the wall clock; on a busy machine a single-thread engine can be
// timed by its thread's CPU time instead (see scripts/cpupeer).
func TimeSgemm(e *Engine, s SgemmShape, rounds int, minTime time.Duration, clock func() time.Duration) (float64, error) {
	if clock == nil {
		t0 := time.Now()
		clock = func() time.Duration { return time.Since(t0) }
	}
	rng := rand.New(rand.NewPCG(uint64(s.M), uint64(s.N*s.K)))
	mat := func(r, c int) backend.Tensor {
		t := e.Alloc(backend.Activations, backend.F32, r, c)
		x := make([]float32, r*c)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		e.Upload(t, x)
		return t
	}
	a, b := mat(s.M, s.K), mat(s.K, s.N)
	if s.TransA {
		a = mat(s.K, s.M)
	}
	if s.TransB {
		b = mat(s.N, s.K)
	}
	c := e.Alloc(backend.Activations, backend.F32, s.M, s.N)
	defer e.ResetPool(backend.Activations)
	p := backend.MatMulParams{TransA: s.TransA, TransB: s.TransB, Alpha: 1}
	e.MatMul(c, a, b, p)
	if err := e.Err(); err != nil {
		return 0, fmt.Errorf("sgemm %s: %w", s.Name, err)
	}
	best := 0.0
	for range max(rounds, 1) {
		n, start := 0, clock()
		for n == 0 || clock()-start < minTime {
			e.MatMul(c, a, b, p)
			n++
		}
		best = max(best, float64(n)*s.Flops()/(clock()-start).Seconds()/1e9)
	}
	return best, e.Err()
}
