package backendtest

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// optimRows covers AdamW and SumSquares.
func optimRows() []row {
	return []row{
		{name: "adamw_3_steps", run: func(h *harness) {
			const n = 1000
			ap := backend.AdamWParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
			p, pv := h.input(backend.F32, h.normal(n, 1), n)
			m, mv := h.input(backend.F32, make([]float32, n), n)
			v, vv := h.input(backend.F32, make([]float32, n), n)
			for step := 1; step <= 3; step++ {
				g, gv := h.input(backend.F32, h.normal(n, 0.1), n)
				ap.Step = step
				h.e.AdamW(p, g, m, v, ap)
				refAdamW(pv, gv, mv, vv, float64(ap.LR), float64(ap.Beta1), float64(ap.Beta2),
					float64(ap.Eps), float64(ap.WeightDecay), step)
			}
			h.check("param", h.get(p), pv, tolF32)
			h.check("m", h.get(m), mv, tolF32)
			h.check("v", h.get(v), vv, tolF32)
		}},
		{name: "sumsquares", run: func(h *harness) {
			a, av := h.input(backend.F32, h.normal(100003, 1), 100003)
			b, bv := h.input(backend.BF16, h.normal(77, 3), 7, 11)
			got := h.e.SumSquares(a, b)
			want := dot(av, av) + dot(bv, bv)
			if math.Abs(got-want) > 1e-9*want {
				h.t.Errorf("SumSquares = %.12g, want %.12g", got, want)
			}
			if z := h.e.SumSquares(); z != 0 {
				h.t.Errorf("SumSquares() = %g, want 0", z)
			}
		}},
	}
}
