package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

func TestBF16Round(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{1, 1},
		{1 + 1.0/256, 1},                      // halfway, even mantissa below: down
		{1 + 3.0/256, 1 + 1.0/64},             // halfway, odd mantissa below: up
		{1 + 1.0/256 + 1.0/4096, 1 + 1.0/128}, // above halfway: up
		{-2.5, -2.5},
		{math.MaxFloat32, float32(math.Inf(1))},
		{float32(math.Inf(-1)), float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := bf16Round(c.in); got != c.want {
			t.Errorf("bf16Round(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := bf16Round(float32(math.NaN())); !math.IsNaN(float64(got)) {
		t.Errorf("bf16Round(NaN) = %v, want NaN", got)
	}
	if b := math.Float32bits(bf16Round(0.1)); b&0xffff != 0 {
		t.Errorf("bf16Round(0.1) has low bits %#x", b&0xffff)
	}
}

// naiveGemm is the float64 reference of gemmArgs.
func naiveGemm(g gemmArgs, c0 []float32) []float64 {
	out := make([]float64, g.m*g.n)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s float64
			for p := 0; p < g.k; p++ {
				var a, b float32
				if g.transA {
					a = g.a[p*g.lda+i]
				} else {
					a = g.a[i*g.lda+p]
				}
				if g.transB {
					b = g.b[j*g.ldb+p]
				} else {
					b = g.b[p*g.ldb+j]
				}
				s += float64(a) * float64(b)
			}
			out[i*g.n+j] = float64(g.alpha)*s + float64(g.beta)*float64(c0[i*g.ldc+j])
		}
	}
	return out
}

// TestGemmKernels checks every micro-kernel on shapes that cross all
// blocking edges, with leading dimensions larger than the matrices.
func TestGemmKernels(t *testing.T) {
	kernels := gemmKernels()
	rng := rand.New(rand.NewPCG(9, 9))
	shapes := [][3]int{{1, 1, 1}, {7, 5, 3}, {97, 33, 257}, {13, 530, 40}, {200, 17, 600}}
	for _, kern := range kernels {
		for _, s := range shapes {
			for tr := 0; tr < 4; tr++ {
				m, n, k := s[0], s[1], s[2]
				g := gemmArgs{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k, alpha: 0.5, beta: 0.25}
				ar, ac := m, k
				if g.transA {
					ar, ac = k, m
				}
				br, bc := k, n
				if g.transB {
					br, bc = n, k
				}
				g.lda, g.ldb, g.ldc = ac+3, bc+1, n+2
				g.a, g.b, g.c = randSlice(rng, ar*g.lda), randSlice(rng, br*g.ldb), randSlice(rng, m*g.ldc)
				c0 := append([]float32(nil), g.c...)
				want := naiveGemm(g, c0)
				e := New(3)
				e.kern = kern
				e.gemm(g)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						got, w := float64(g.c[i*g.ldc+j]), want[i*n+j]
						if math.Abs(got-w) > 1e-5*math.Sqrt(float64(k))+1e-5*math.Abs(w) {
							t.Fatalf("%s %v trans %d: c[%d,%d] = %v, want %v", kern.name, s, tr, i, j, got, w)
						}
					}
					for j := n; j < g.ldc; j++ {
						if g.c[i*g.ldc+j] != c0[i*g.ldc+j] {
							t.Fatalf("%s %v: wrote past column %d", kern.name, s, n)
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestDevice(t *testing.T) {
	e := New(2)
	if e.Name() != "cpu" || !strings.HasPrefix(e.Device(), "cpu (2 threads, ") {
		t.Errorf("Name %q, Device %q", e.Name(), e.Device())
	}
	if New(0).Threads() < 1 {
		t.Errorf("New(0) has no threads")
	}
}

// TestBadArguments calls every op with wrong arguments on a fresh engine:
// each must set the sticky error and none may panic.
func TestBadArguments(t *testing.T) {
	type mk struct {
		e              *Engine
		f, g, big, ids backend.Tensor
		freed, foreign backend.Tensor
		kv             backend.PagedKV
	}
	setup := func() *mk {
		e := New(2)
		m := &mk{e: e}
		m.f = e.Alloc(backend.Activations, backend.F32, 4, 3)
		m.g = e.Alloc(backend.Activations, backend.F32, 5, 2)
		m.big = e.Alloc(backend.Activations, backend.F32, 2, 4, 3)
		m.ids = e.Alloc(backend.Activations, backend.I32, 4)
		m.freed = e.Alloc(backend.Activations, backend.F32, 4, 3)
		e.Free(m.freed)
		m.foreign = New(1).Alloc(backend.Activations, backend.F32, 4, 3)
		k := e.Alloc(backend.KV, backend.F32, 2, 4, 1, 3)
		bt := e.Alloc(backend.Activations, backend.I32, 1, 2)
		e.UploadI32(bt, []int32{0, 5}) // block 5 does not exist
		sl := e.Alloc(backend.Activations, backend.I32, 1)
		e.UploadI32(sl, []int32{6})
		m.kv = backend.PagedKV{K: k, V: k, BlockTable: bt, SeqLens: sl, BlockSize: 4}
		return m
	}
	attn := backend.AttnParams{Heads: 1, KVHeads: 1, HeadDim: 3}
	ops := map[string]func(m *mk){
		"alloc negative":   func(m *mk) { m.e.Alloc(backend.Activations, backend.F32, 2, -1) },
		"free twice":       func(m *mk) { m.e.Free(m.freed) },
		"upload size":      func(m *mk) { m.e.Upload(m.f, make([]float32, 5)) },
		"upload i32":       func(m *mk) { m.e.Upload(m.ids, make([]float32, 4)) },
		"download freed":   func(m *mk) { m.e.Download(m.freed, make([]float32, 12)) },
		"download foreign": func(m *mk) { m.e.Download(m.foreign, make([]float32, 12)) },
		"downloadi32 f32":  func(m *mk) { m.e.DownloadI32(m.f, make([]int32, 12)) },
		"copy size":        func(m *mk) { m.e.Copy(m.f, m.g) },
		"copy dtype":       func(m *mk) { m.e.Copy(m.ids, m.f) },
		"copyrange bounds": func(m *mk) { m.e.CopyRange(m.f, 10, m.g, 0, 5) },
		"fill nil":         func(m *mk) { m.e.Fill(nil, 1) },
		"matmul inner":     func(m *mk) { m.e.MatMul(m.g, m.f, m.g, backend.MatMulParams{Alpha: 1}) },
		"matmul rank":      func(m *mk) { m.e.MatMul(m.f, m.big, m.f, backend.MatMulParams{Alpha: 1}) },
		"matmul alias":     func(m *mk) { m.e.MatMul(m.f, m.f, m.f, backend.MatMulParams{Alpha: 1}) },
		"add size":         func(m *mk) { m.e.Add(m.f, m.f, m.g) },
		"scale i32":        func(m *mk) { m.e.Scale(m.ids, 2) },
		"addbias cols":     func(m *mk) { m.e.AddBias(m.f, m.ids) },
		"biasbackward":     func(m *mk) { m.e.BiasBackward(m.g, m.f) },
		"embedding range":  func(m *mk) { m.e.UploadI32(m.ids, []int32{0, 1, 9, 0}); m.e.EmbeddingForward(m.f, m.f, m.ids) },
		"embedding bwd":    func(m *mk) { m.e.EmbeddingBackward(m.g, m.f, m.ids) },
		"rmsnorm":          func(m *mk) { m.e.RMSNormForward(m.f, m.g, m.f, m.g, 1e-5) },
		"rmsnorm bwd":      func(m *mk) { m.e.RMSNormBackward(m.f, m.g, m.f, m.f, m.g, m.ids) },
		"rope odd":         func(m *mk) { m.e.RoPEForward(m.f, m.ids, 1, 3, 1e4) },
		"rope bwd":         func(m *mk) { m.e.RoPEBackward(m.g, m.ids, 1, 2, 1e4) },
		"swiglu":           func(m *mk) { m.e.SwiGLUForward(m.f, m.g, m.f) },
		"swiglu bwd":       func(m *mk) { m.e.SwiGLUBackward(m.f, m.f, m.f, m.g, m.f) },
		"attention":        func(m *mk) { m.e.AttentionForward(m.f, m.f, m.f, m.f, m.f, attn) },
		"attention bwd":    func(m *mk) { m.e.AttentionBackward(m.f, m.f, m.f, m.f, m.f, m.g, m.f, m.f, m.f, attn) },
		"kvappend block":   func(m *mk) { m.e.KVAppend(m.kv, m.f, m.f) },
		"decode block":     func(m *mk) { m.e.DecodeAttention(m.f, m.f, m.kv, attn) },
		"sample shape":     func(m *mk) { m.e.Sample(m.ids, m.g, m.f, m.g, backend.SampleParams{TopP: 1}) },
		"sample params":    func(m *mk) { m.e.Sample(m.ids, m.ids, m.f, m.f, backend.SampleParams{TopP: 1.5}) },
		"pgloss targets": func(m *mk) {
			m.e.PGLossForward(backend.PGLossOut{}, backend.PGLossIn{Hidden: m.f, Head: m.g, Targets: m.ids})
		},
		"pgloss mode inputs": func(m *mk) {
			m.e.PGLossForward(backend.PGLossOut{}, backend.PGLossIn{Hidden: m.f, Head: m.f, Targets: m.ids, Mode: backend.PGTokenClip})
		},
		"pgloss bwd": func(m *mk) {
			m.e.PGLossBackward(m.g, m.f, backend.PGLossIn{Hidden: m.f, Head: m.f, Targets: m.ids}, m.ids, m.f)
		},
		"adamw step": func(m *mk) { m.e.AdamW(m.f, m.f, m.f, m.f, backend.AdamWParams{}) },
		"sumsquares": func(m *mk) { m.e.SumSquares(m.f, m.ids) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			m := setup()
			if err := m.e.Err(); err != nil {
				t.Fatalf("setup: %v", err)
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				op(m)
			}()
			if m.e.Err() == nil {
				t.Fatalf("no sticky error")
			}
		})
	}
}

func TestExpf(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	worst := 0.0
	for i := 0; i < 200000; i++ {
		x := float32(rng.Float64()*200 - 100)
		if i < 1000 {
			x = float32(rng.Float64()*2 - 1)
		}
		got, want := float64(expf(x)), math.Exp(float64(x))
		if want == 0 || math.IsInf(want, 0) || want < 1e-37 || want > 3e38 {
			continue
		}
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	t.Logf("worst %.3g", worst)
	if worst > 3e-7 {
		t.Errorf("expf max relative error %.3g, want ≤ 3e-7", worst)
	}
	for _, x := range []float32{float32(math.Inf(-1)), -200, 0, 100} {
		if got, want := expf(x), float32(math.Exp(float64(x))); got != want {
			t.Errorf("expf(%v) = %v, want %v", x, got, want)
		}
	}
	if !math.IsNaN(float64(expf(float32(math.NaN())))) {
		t.Errorf("expf(NaN) is not NaN")
	}
}

func TestExpSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 7, 8, 9, 64, 1003} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.Float64()*180 - 90)
		}
		if n > 3 {
			x[0], x[1], x[2] = float32(math.NaN()), -1000, 0.5
		}
		y := append([]float32(nil), x...)
		expSub(y, 0.5)
		for i := range x {
			want := math.Exp(float64(x[i] - 0.5))
			got := float64(y[i])
			switch {
			case math.IsNaN(float64(x[i])):
				if !math.IsNaN(got) {
					t.Fatalf("n=%d: exp(NaN) = %v", n, got)
				}
			case want < 1.7e-38:
				if got > 1.7e-38 {
					t.Fatalf("n=%d: exp(%v) = %v, want ≈ 0", n, x[i]-0.5, got)
				}
			case want < 1.6e38:
				if math.Abs(got-want) > 2e-7*want {
					t.Fatalf("n=%d: exp(%v) = %v, want %v", n, x[i]-0.5, got, want)
				}
			}
		}
	}
}
