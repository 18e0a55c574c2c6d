package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

// gradProblem is a fixed batch with the loss L = Σ_t c_t · logp_t (c random
// in [−1, 1]), computed by PGLossForward in PGNLL mode with Weight = −c.
type gradProblem struct {
	m       *Model
	ids     []int32
	targets []int32
	weight  []float32
	B, T    int
}

// inputs uploads the loss inputs into activations.
func (g *gradProblem) inputs() (backend.PGLossIn, backend.PGLossOut) {
	b, N := g.m.B, g.B*g.T
	zeros := make([]float32, N)
	f := func(src []float32) backend.Tensor { t := g.m.act(N); b.Upload(t, src); return t }
	in := backend.PGLossIn{Head: g.m.Head(), Targets: g.m.actI32(g.targets),
		Adv: f(zeros), OldLogp: f(zeros), Weight: f(g.weight), Mode: backend.PGNLL}
	out := backend.PGLossOut{Logp: g.m.act(N), Entropy: g.m.act(N), LSE: g.m.act(N), Loss: g.m.act(N),
		Coef: g.m.act(N), Clip: g.m.act(N), KL: g.m.act(N)}
	return in, out
}

// loss runs the forward and sums the per-token losses in float32.
func (g *gradProblem) loss(t *testing.T) float32 {
	g.m.B.ResetPool(backend.Activations)
	a, err := g.m.Forward(g.ids, g.B, g.T)
	if err != nil {
		t.Fatal(err)
	}
	in, out := g.inputs()
	in.Hidden = a.Hidden()
	g.m.B.PGLossForward(out, in)
	var s float32
	for _, v := range download(g.m.B, out.Loss) {
		s += v
	}
	return s
}

// grads runs forward and backward and returns every parameter's gradient.
func (g *gradProblem) grads(t *testing.T) map[string][]float32 {
	m, b := g.m, g.m.B
	b.ResetPool(backend.Activations)
	m.ZeroGrads()
	a, err := m.Forward(g.ids, g.B, g.T)
	if err != nil {
		t.Fatal(err)
	}
	in, out := g.inputs()
	in.Hidden = a.Hidden()
	b.PGLossForward(out, in)
	dh := m.act(g.B*g.T, m.Cfg.Dim)
	b.PGLossBackward(dh, m.HeadGrad(), in, out.LSE, out.Coef)
	if err := m.Backward(a, dh); err != nil {
		t.Fatal(err)
	}
	gs := map[string][]float32{}
	for _, p := range m.Params {
		gs[p.Name] = download(b, p.G)
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return gs
}

// TestGradCheck compares the analytic gradient of every parameter tensor
// (3 random elements plus the largest-gradient one) with central finite
// differences of the float32 model, eps = 1e-2. Tolerance: relative 2e-2
// plus an absolute 1e-3 for float32 rounding of the loss (~1e-5 over 2·eps);
// a sign or factor-of-two error in any op exceeds it. The largest gradient
// of each tensor must be well above the absolute floor, so that every
// tensor's check is meaningful.
func TestGradCheck(t *testing.T) {
	const (
		eps  = 1e-2
		rtol = 2e-2
		atol = 1e-3
	)
	for _, tc := range []struct{ tied, bias bool }{{true, false}, {false, true}, {true, true}, {false, false}} {
		t.Run(fmt.Sprintf("tied=%v,bias=%v", tc.tied, tc.bias), func(t *testing.T) {
			cfg, _ := Preset("tiny", testVocab)
			cfg.TiedEmbeddings, cfg.QKVBias = tc.tied, tc.bias
			cfg.InitStd = 0.2 // larger weights: gradients well above the float32 noise
			if cfg.KVHeads >= cfg.Heads {
				t.Fatal("grad check wants grouped-query attention")
			}
			m := newModel(t, cfg, 7)
			r := rand.New(rand.NewPCG(11, 12))
			g := &gradProblem{m: m, B: 2, T: 5}
			g.ids = randTokens(r, g.B*g.T, testVocab)
			g.targets = randTokens(r, g.B*g.T, testVocab)
			g.weight = make([]float32, g.B*g.T)
			for i := range g.weight {
				g.weight[i] = 2*r.Float32() - 1
			}
			g.weight[len(g.weight)-1] = 0 // a dropped (padding) token
			// Biases start at zero; move them so their gradient paths are generic.
			for _, p := range m.Params {
				if p.Name[len(p.Name)-4:] == "bias" {
					h := make([]float32, p.W.Len())
					for i := range h {
						h[i] = 0.1 * (2*r.Float32() - 1)
					}
					m.B.Upload(p.W, h)
				}
			}
			an := g.grads(t)
			checked, worst := 0, float32(0)
			for _, p := range m.Params {
				ga := an[p.Name]
				idx := []int{r.IntN(len(ga)), r.IntN(len(ga)), r.IntN(len(ga))}
				big := 0
				for i, v := range ga {
					if abs32(v) > abs32(ga[big]) {
						big = i
					}
				}
				if abs32(ga[big]) < 10*atol {
					t.Errorf("%s: largest gradient %.2g is too small for a meaningful check", p.Name, ga[big])
				}
				idx = append(idx, big)
				w := download(m.B, p.W)
				for _, i := range idx {
					orig := w[i]
					w[i] = orig + eps
					m.B.Upload(p.W, w)
					lp := g.loss(t)
					w[i] = orig - eps
					m.B.Upload(p.W, w)
					lm := g.loss(t)
					w[i] = orig
					m.B.Upload(p.W, w)
					num := (lp - lm) / (2 * eps)
					d := abs32(num - ga[i])
					tol := rtol*max(abs32(num), abs32(ga[i])) + atol
					worst = max(worst, d/tol)
					if d > tol {
						t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", p.Name, i, ga[i], num)
					}
					checked++
				}
			}
			t.Logf("checked %d elements over %d tensors; worst error %.2f of the tolerance", checked, len(m.Params), worst)
		})
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }
