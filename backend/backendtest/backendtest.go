// Package backendtest is an engine-agnostic op table in the manner of ggml's
// test-backend-ops: every row builds fresh random inputs (seeded per row),
// runs one op on the engine under test with its outputs poisoned first,
// downloads the results and compares them with a float64 reference computed
// here from the same (as-stored) inputs. Backward ops are also checked
// against central finite differences of their forward reference.
//
// An engine plugs in with
//
//	func TestOps(t *testing.T) { backendtest.Run(t, func() backend.Backend { return myengine.New() }) }
//
// Run touches engines only through backend.Backend.
package backendtest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

// Tolerances: |got − want| ≤ atol + rtol·|want| with atol = rtol·max|want|.
const (
	tolF32 = 1e-5 // single-pass fp32 ops
	tolAcc = 1e-4 // fp32 ops with long reductions and exp/log chains
	tolBF  = 1e-2 // bf16 rows
	tolFD  = 1e-4 // engine gradient against float64 finite differences
)

// row is one entry of the op table.
type row struct {
	name string
	// fresh means the row needs an engine of its own (pools, sticky error).
	fresh bool
	run   func(h *harness)
}

// rows is the whole table, in the order Run runs it.
func rows() []row {
	var all []row
	all = append(all, memoryRows()...)
	all = append(all, elementwiseRows()...)
	all = append(all, matmulRows()...)
	all = append(all, layerRows()...)
	all = append(all, attentionRows()...)
	all = append(all, sampleRows()...)
	all = append(all, pgRows()...)
	all = append(all, optimRows()...)
	all = append(all, shapeRows()...)
	return all
}

// Run runs every row of the op table against engines made by newEngine.
// Rows share one engine (its activations pool is reset after each) except
// rows that inspect pools or the sticky error, which get a fresh one.
func Run(t *testing.T, newEngine func() backend.Backend) {
	var shared backend.Backend
	for _, r := range rows() {
		t.Run(r.name, func(t *testing.T) {
			e := shared
			if r.fresh {
				e = newEngine()
			} else if e == nil || e.Err() != nil {
				shared = newEngine()
				e = shared
			}
			h := &harness{t: t, e: e, rng: rand.New(rand.NewPCG(seedOf(r.name), 0x5eed))}
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("engine panicked: %v", p)
				}
			}()
			r.run(h)
			if !r.fresh {
				if err := e.Err(); err != nil {
					t.Fatalf("engine error: %v", err)
				}
				e.ResetPool(backend.Activations)
			}
		})
	}
}

// seedOf derives a row's seed from its name.
func seedOf(name string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(name))
	return f.Sum64()
}

// harness is what a row works with.
type harness struct {
	t   *testing.T
	e   backend.Backend
	rng *rand.Rand
}

// normal returns n normal(0, scale²) values.
func (h *harness) normal(n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(h.rng.NormFloat64() * scale)
	}
	return x
}

// uniform returns n values uniform in [lo, hi).
func (h *harness) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*h.rng.Float64())
	}
	return x
}

// input allocates a dt tensor of the given shape from the activations pool,
// uploads data and returns it with its values as stored (bf16-rounded).
func (h *harness) input(dt backend.DType, data []float32, shape ...int) (backend.Tensor, []float64) {
	h.t.Helper()
	if backend.Numel(shape) != len(data) {
		h.t.Fatalf("test bug: %d values for shape %v", len(data), shape)
	}
	x := h.e.Alloc(backend.Activations, dt, shape...)
	h.e.Upload(x, data)
	return x, h.get(x)
}

// ints allocates and uploads an I32 tensor.
func (h *harness) ints(vals []int32, shape ...int) backend.Tensor {
	x := h.e.Alloc(backend.Activations, backend.I32, shape...)
	h.e.UploadI32(x, vals)
	return x
}

// output allocates a dt tensor poisoned with NaN (i32: −7).
func (h *harness) output(dt backend.DType, shape ...int) backend.Tensor {
	x := h.e.Alloc(backend.Activations, dt, shape...)
	if dt == backend.I32 {
		h.e.Fill(x, -7)
	} else {
		h.e.Fill(x, float32(math.NaN()))
	}
	return x
}

// get downloads a float tensor as float64 values; it fails the row on an
// engine error.
func (h *harness) get(x backend.Tensor) []float64 {
	h.t.Helper()
	buf := make([]float32, x.Len())
	h.e.Download(x, buf)
	if err := h.e.Sync(); err != nil {
		h.t.Fatalf("engine error: %v", err)
	}
	return f64(buf)
}

// getInts downloads an I32 tensor.
func (h *harness) getInts(x backend.Tensor) []int32 {
	h.t.Helper()
	buf := make([]int32, x.Len())
	h.e.DownloadI32(x, buf)
	if err := h.e.Sync(); err != nil {
		h.t.Fatalf("engine error: %v", err)
	}
	return buf
}

// f64 widens a float32 slice.
func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// f32 narrows a float64 slice.
func f32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// check compares got with want: |got − want| ≤ atol + rtol·|want| with
// atol = rtol·max|want|. NaN never passes.
func (h *harness) check(name string, got, want []float64, rtol float64) {
	h.t.Helper()
	if err := compare(got, want, rtol); err != nil {
		h.t.Errorf("%s: %v", name, err)
	}
}

// compare is check without the test.
func compare(got, want []float64, rtol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d values, want %d", len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	atol := rtol * math.Max(scale, 1e-30)
	bad, worst, at := 0, 0.0, -1
	for i := range got {
		d := math.Abs(got[i] - want[i])
		bound := atol + rtol*math.Abs(want[i])
		if !(d <= bound) {
			bad++
			if !(d <= worst) || at < 0 {
				worst, at = d, i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d values off (max |Δ| %.3g at [%d]: got %.7g, want %.7g; rtol %.0e, scale %.3g)",
			bad, len(got), worst, at, got[at], want[at], rtol, scale)
	}
	return nil
}

// fdCheck compares an analytic gradient with central finite differences of
// loss at up to maxCoords coordinates of x (chosen by the row's rng): the
// engine's gradient with tolFD and the float64 reference's with 1e-6.
func (h *harness) fdCheck(name string, x []float64, engine, ref []float64, loss func() float64, maxCoords int) {
	h.t.Helper()
	idx := h.rng.Perm(len(x))
	if len(idx) > maxCoords {
		idx = idx[:maxCoords]
	}
	fd := make([]float64, len(idx))
	eg := make([]float64, len(idx))
	rg := make([]float64, len(idx))
	const step = 1e-4
	for n, i := range idx {
		x0 := x[i]
		x[i] = x0 + step
		lp := loss()
		x[i] = x0 - step
		lm := loss()
		x[i] = x0
		fd[n] = (lp - lm) / (2 * step)
		eg[n], rg[n] = engine[i], ref[i]
	}
	if err := compare(rg, fd, 1e-6); err != nil {
		h.t.Errorf("%s: float64 reference vs finite differences: %v", name, err)
	}
	if err := compare(eg, fd, tolFD); err != nil {
		h.t.Errorf("%s: engine vs finite differences: %v", name, err)
	}
}

// dot is Σ a·b.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// sub returns a − b.
func sub(a, b []float64) []float64 {
	y := make([]float64, len(a))
	for i := range a {
		y[i] = a[i] - b[i]
	}
	return y
}
