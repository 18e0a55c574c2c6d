//go:build cuda || cudaemu

package gpu_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/backendtest"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/gpu"
)

// open makes an engine or fails the test; it is closed when the test ends.
func open(t testing.TB, plan gpu.PoolPlan) *gpu.Engine {
	t.Helper()
	b, err := gpu.New(plan)
	if err != nil {
		t.Fatalf("gpu.New: %v", err)
	}
	e := b.(*gpu.Engine)
	t.Cleanup(func() { e.Close() })
	return e
}

// TestOps runs the shared op table (every op against a float64 reference)
// in each thread order of the build (the emulator runs forward and
// reverse; a GPU has its own), then checks which kernels it launched.
func TestOps(t *testing.T) {
	for _, order := range threadOrders() {
		t.Run(order, func(t *testing.T) {
			setThreadOrder(t, order)
			checkCoverage(t, runOpTable(t))
		})
	}
}

// runOpTable runs backendtest on fresh engines and returns them (still
// open: they close when the test ends).
func runOpTable(t *testing.T) []*gpu.Engine {
	first := open(t, testPlan)
	t.Logf("device: %s", first.Device())
	engines := []*gpu.Engine{first}
	used := false
	backendtest.Run(t, func() backend.Backend {
		if !used {
			used = true
			return first
		}
		b, err := gpu.New(testPlan)
		if err != nil {
			panic("gpu.New: " + err.Error())
		}
		t.Cleanup(func() { b.(*gpu.Engine).Close() })
		engines = append(engines, b.(*gpu.Engine))
		return b
	})
	return engines
}

// TestPlanTooLarge checks that New refuses a plan beyond the free memory
// with the numbers, before any work.
func TestPlanTooLarge(t *testing.T) {
	_, err := gpu.New(gpu.PoolPlan{backend.Weights: 1 << 50})
	if err == nil || !strings.Contains(err.Error(), "GiB free") {
		t.Fatalf("New with a 1 PiB plan: %v, want an error with the free memory", err)
	}
}

// pair uploads the same values to the GPU engine and the CPU engine.
type pair struct {
	g *gpu.Engine
	c *cpu.Engine
}

func (p pair) in(dt backend.DType, x []float32, shape ...int) (backend.Tensor, backend.Tensor) {
	a := p.g.Alloc(backend.Activations, dt, shape...)
	p.g.Upload(a, x)
	b := p.c.Alloc(backend.Activations, dt, shape...)
	p.c.Upload(b, x)
	return a, b
}

func (p pair) out(dt backend.DType, shape ...int) (backend.Tensor, backend.Tensor) {
	return p.g.Alloc(backend.Activations, dt, shape...), p.c.Alloc(backend.Activations, dt, shape...)
}

// compare downloads g and c and checks |g−c| ≤ tol·(max|c| + |c|).
func (p pair) compare(t *testing.T, what string, g, c backend.Tensor, tol float64) {
	t.Helper()
	gv, cv := make([]float32, g.Len()), make([]float32, c.Len())
	p.g.Download(g, gv)
	p.c.Download(c, cv)
	if err := p.g.Err(); err != nil {
		t.Fatalf("%s: gpu: %v", what, err)
	}
	if err := p.c.Err(); err != nil {
		t.Fatalf("%s: cpu: %v", what, err)
	}
	var scale float64
	for _, v := range cv {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	bad := 0
	for i := range cv {
		d := math.Abs(float64(gv[i]) - float64(cv[i]))
		if !(d <= tol*(scale+math.Abs(float64(cv[i])))) {
			if bad < 5 {
				t.Errorf("%s[%d]: gpu %v, cpu %v", what, i, gv[i], cv[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d differ beyond %g", what, bad, len(cv), tol)
	}
}

func randn(rng *rand.Rand, n int, s float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * s)
	}
	return x
}

// TestAttentionTensorCores checks the bf16 mma.sync kernels (head dim 64
// and 128; the op table's bf16 rows use the fp32 path) against the CPU
// engine on the same bf16 inputs, T not a multiple of the 64-row tile.
func TestAttentionTensorCores(t *testing.T) {
	p := pair{open(t, testPlan), cpu.New(0)}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int{64, 128} {
		b, tt, h, kvh := 2, 150, 4, 2
		nq, nk := b*tt*h*d, b*tt*kvh*d
		prm := backend.AttnParams{Heads: h, KVHeads: kvh, HeadDim: d}
		qg, qc := p.in(backend.BF16, randn(rng, nq, 1), b, tt, h, d)
		kg, kc := p.in(backend.BF16, randn(rng, nk, 1), b, tt, kvh, d)
		vg, vc := p.in(backend.BF16, randn(rng, nk, 1), b, tt, kvh, d)
		og, oc := p.out(backend.BF16, b, tt, h, d)
		lg, lc := p.out(backend.F32, b, h, tt)
		p.g.AttentionForward(og, lg, qg, kg, vg, prm)
		p.c.AttentionForward(oc, lc, qc, kc, vc, prm)
		p.compare(t, "out", og, oc, 2e-2)
		p.compare(t, "lse", lg, lc, 1e-2)
		dyg, dyc := p.in(backend.BF16, randn(rng, nq, 1), b, tt, h, d)
		dqg, dqc := p.out(backend.F32, b, tt, h, d)
		dkg, dkc := p.out(backend.F32, b, tt, kvh, d)
		dvg, dvc := p.out(backend.F32, b, tt, kvh, d)
		p.g.AttentionBackward(dqg, dkg, dvg, dyg, og, lg, qg, kg, vg, prm)
		p.c.AttentionBackward(dqc, dkc, dvc, dyc, oc, lc, qc, kc, vc, prm)
		p.compare(t, "dq", dqg, dqc, 3e-2)
		p.compare(t, "dk", dkg, dkc, 3e-2)
		p.compare(t, "dv", dvg, dvc, 3e-2)
		p.g.ResetPool(backend.Activations)
	}
}

// TestSampleLargeVocab compares tokens with the CPU engine on a real
// vocabulary size, fp32 and bf16 logits, with every filter.
func TestSampleLargeVocab(t *testing.T) {
	p := pair{open(t, testPlan), cpu.New(0)}
	rng := rand.New(rand.NewPCG(5, 6))
	const b, v = 8, 151936
	for _, dt := range []backend.DType{backend.F32, backend.BF16} {
		for _, sp := range []backend.SampleParams{
			{Temperature: 0, TopP: 1}, {Temperature: 1, TopP: 1}, {Temperature: 0.7, TopP: 0.9},
			{Temperature: 1, TopK: 50, TopP: 1}, {Temperature: 0.8, TopK: 40, TopP: 0.95},
		} {
			lg, lc := p.in(dt, randn(rng, b*v, 3), b, v)
			u := make([]float32, b)
			for i := range u {
				u[i] = rng.Float32()
			}
			ug, uc := p.in(backend.F32, u, b)
			tg, tc := p.out(backend.I32, b)
			pg, pc := p.out(backend.F32, b)
			p.g.Sample(tg, pg, lg, ug, sp)
			p.c.Sample(tc, pc, lc, uc, sp)
			gt, ct := make([]int32, b), make([]int32, b)
			p.g.DownloadI32(tg, gt)
			p.c.DownloadI32(tc, ct)
			if err := p.g.Err(); err != nil {
				t.Fatal(err)
			}
			for i := range gt {
				if gt[i] != ct[i] {
					t.Errorf("%v %+v row %d (u=%v): gpu token %d, cpu %d", dt, sp, i, u[i], gt[i], ct[i])
				}
			}
			p.compare(t, "logprobs", pg, pc, 1e-5)
			p.g.ResetPool(backend.Activations)
		}
	}
}

// TestPGLossBF16 runs the loss on bf16 hidden and head (cuBLAS bf16 GEMMs,
// several vocabulary chunks) against the CPU engine.
func TestPGLossBF16(t *testing.T) {
	p := pair{open(t, testPlan), cpu.New(0)}
	rng := rand.New(rand.NewPCG(7, 8))
	const n, d, v = 300, 64, 5000
	hg, hc := p.in(backend.BF16, randn(rng, n*d, 1), n, d)
	wg, wc := p.in(backend.BF16, randn(rng, v*d, 0.3), v, d)
	tg := make([]int32, n)
	for i := range tg {
		tg[i] = int32(rng.IntN(v))
	}
	targ := p.g.Alloc(backend.Activations, backend.I32, n)
	p.g.UploadI32(targ, tg)
	tarc := p.c.Alloc(backend.Activations, backend.I32, n)
	p.c.UploadI32(tarc, tg)
	adv, advc := p.in(backend.F32, randn(rng, n, 1), n)
	old, oldc := p.in(backend.F32, randn(rng, n, 0.5), n)
	wt, wtc := p.in(backend.F32, randn(rng, n, 1), n)
	ing := backend.PGLossIn{Hidden: hg, Head: wg, Targets: targ, Adv: adv, OldLogp: old, Weight: wt,
		Mode: backend.PGTokenClip, EpsLow: 0.2, EpsHigh: 0.28, ChunkV: 1024}
	inc := backend.PGLossIn{Hidden: hc, Head: wc, Targets: tarc, Adv: advc, OldLogp: oldc, Weight: wtc,
		Mode: backend.PGTokenClip, EpsLow: 0.2, EpsHigh: 0.28, ChunkV: 1024}
	var og, oc [5]backend.Tensor
	for i := range og {
		og[i], oc[i] = p.out(backend.F32, n)
	}
	p.g.PGLossForward(backend.PGLossOut{Logp: og[0], Entropy: og[1], LSE: og[2], Loss: og[3], Coef: og[4]}, ing)
	p.c.PGLossForward(backend.PGLossOut{Logp: oc[0], Entropy: oc[1], LSE: oc[2], Loss: oc[3], Coef: oc[4]}, inc)
	for i, what := range []string{"logp", "entropy", "lse", "loss", "coef"} {
		p.compare(t, what, og[i], oc[i], 1e-3)
	}
	dhg, dhc := p.out(backend.F32, n, d)
	dwg, dwc := p.out(backend.F32, v, d)
	p.g.PGLossBackward(dhg, dwg, ing, og[2], og[4])
	p.c.PGLossBackward(dhc, dwc, inc, oc[2], oc[4])
	p.compare(t, "dHidden", dhg, dhc, 2e-2)
	p.compare(t, "dHead", dwg, dwc, 2e-2)
}

// TestLargeTransfer moves tensors larger than one staging buffer (8 MiB)
// both ways, fp32 and bf16 (bf16-exact values, so bitwise), and i32: the
// chunking of Upload and Download.
func TestLargeTransfer(t *testing.T) {
	e := open(t, testPlan)
	const n = 5<<20 + 12345 // 20 MiB of fp32, 10 MiB of bf16
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(math.Float32bits(float32(rng.NormFloat64())) &^ 0xffff) // exact in bf16
	}
	for _, dt := range []backend.DType{backend.F32, backend.BF16} {
		a := e.Alloc(backend.Activations, dt, n)
		e.Upload(a, x)
		got := make([]float32, n)
		e.Download(a, got)
		if err := e.Err(); err != nil {
			t.Fatalf("%v: %v", dt, err)
		}
		for i := range x {
			if math.Float32bits(got[i]) != math.Float32bits(x[i]) {
				t.Fatalf("%v: element %d of %d: got %v, uploaded %v", dt, i, n, got[i], x[i])
			}
		}
		e.ResetPool(backend.Activations)
	}
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.Uint32())
	}
	a := e.Alloc(backend.Activations, backend.I32, n)
	e.UploadI32(a, ids)
	got := make([]int32, n)
	e.DownloadI32(a, got)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("i32 element %d of %d: got %d, uploaded %d", i, n, got[i], ids[i])
		}
	}
}
