package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

// TestSigmoids checks sigmoids against sigmoid bit for bit: on a sweep of
// every 97th float32 (all signs and magnitudes, NaN and ±Inf included), and
// on slices of every length mod 8 with special values mixed in.
func TestSigmoids(t *testing.T) {
	const stride = 97
	src := make([]float32, 0, 1<<32/stride+1)
	for b := uint64(0); b < 1<<32; b += stride {
		src = append(src, math.Float32frombits(uint32(b)))
	}
	dst := make([]float32, len(src))
	sigmoids(dst, src)
	for i, x := range src {
		if want := sigmoid(x); math.Float32bits(dst[i]) != math.Float32bits(want) {
			t.Fatalf("sigmoids(%g) = %g (%#x), sigmoid %g (%#x)", x, dst[i], math.Float32bits(dst[i]), want, math.Float32bits(want))
		}
	}
	rng := rand.New(rand.NewPCG(41, 42))
	special := []float32{0, float32(math.Copysign(0, -1)), 700, -700, 700.0001, -701, 1e30, float32(math.NaN()), float32(math.Inf(-1))}
	for n := 0; n < 40; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 4)
			if rng.IntN(6) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
		y := make([]float32, n)
		sigmoids(y, x)
		for i := range x {
			if want := sigmoid(x[i]); math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Fatalf("n %d: sigmoids(%g) = %g, sigmoid %g", n, x[i], y[i], want)
			}
		}
	}
}

// swigluCase allocates SwiGLU operands of n elements.
func swigluCase(e *Engine, rng *rand.Rand, n int) (gate, up, dout backend.Tensor) {
	return benchTensor(e, rng, 3, n), benchTensor(e, rng, 1, n), benchTensor(e, rng, 1, n)
}

// TestSwiGLUBitwise checks SwiGLUForward and SwiGLUBackward against the
// one-element-at-a-time formulas with sigmoid, bit for bit.
func TestSwiGLUBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for _, n := range []int{1, 7, 8, 255, 257, 3000, 70001} {
		e := New(2)
		gate, up, dout := swigluCase(e, rng, n)
		out, dg, du := e.Alloc(backend.Activations, backend.F32, n), e.Alloc(backend.Activations, backend.F32, n), e.Alloc(backend.Activations, backend.F32, n)
		e.SwiGLUForward(out, gate, up)
		e.SwiGLUBackward(dg, du, dout, gate, up)
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		got := download(e, out, dg, du)
		in := download(e, gate, up, dout)
		for i := 0; i < n; i++ {
			x, y, d := in[0][i], in[1][i], in[2][i]
			s := sigmoid(x)
			want := []float32{x * s * y, d * y * s * (1 + x*(1-s)), d * x * s}
			for k, w := range want {
				if math.Float32bits(got[k][i]) != math.Float32bits(w) {
					t.Fatalf("n %d output %d [%d] = %g, want %g", n, k, i, got[k][i], w)
				}
			}
		}
	}
}

// download returns the tensors' contents.
func download(e *Engine, ts ...backend.Tensor) [][]float32 {
	var out [][]float32
	for _, t := range ts {
		x := make([]float32, t.Len())
		e.Download(t, x)
		out = append(out, x)
	}
	return out
}

// BenchmarkSwiGLU times the quickstart's SwiGLU forward and backward (1280
// tokens × ffn 352) on one thread, and the sigmoid alone with sigmoid and
// sigmoids.
func BenchmarkSwiGLU(b *testing.B) {
	const n = 1280 * 352
	e := New(1)
	rng := rand.New(rand.NewPCG(45, 46))
	gate, up, dout := swigluCase(e, rng, n)
	out, dg, du := e.Alloc(backend.Activations, backend.F32, n), e.Alloc(backend.Activations, backend.F32, n), e.Alloc(backend.Activations, backend.F32, n)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			e.SwiGLUForward(out, gate, up)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			e.SwiGLUBackward(dg, du, dout, gate, up)
		}
	})
	x, y := download(e, gate)[0], make([]float32, n)
	b.Run("sigmoid", func(b *testing.B) {
		for b.Loop() {
			for i, v := range x {
				y[i] = sigmoid(v)
			}
		}
	})
	b.Run("sigmoids", func(b *testing.B) {
		for b.Loop() {
			sigmoids(y, x)
		}
	})
}
