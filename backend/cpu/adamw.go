package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// AdamW updates param in place as PyTorch's AdamW does: p −= lr·wd·p; m =
// β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·m̂/(sqrt(v̂) + eps) with
// m̂ = m/(1−β1^step), v̂ = v/(1−β2^step).
func (e *Engine) AdamW(param, grad, m, v backend.Tensor, p backend.AdamWParams) {
	c := e.begin("AdamW")
	if c == nil {
		return
	}
	pt := c.float(param, "param")
	if !c.ok() {
		return
	}
	gt, mt, vt := c.floatN(grad, "grad", pt.n), c.floatN(m, "m", pt.n), c.floatN(v, "v", pt.n)
	c.require(p.Step >= 1, "step %d must be ≥ 1", p.Step)
	if !c.ok() {
		return
	}
	bc1 := 1 - math.Pow(float64(p.Beta1), float64(p.Step))
	bc2 := 1 - math.Pow(float64(p.Beta2), float64(p.Step))
	decay := 1 - p.LR*p.WeightDecay
	b1, b2 := p.Beta1, p.Beta2
	stepSize := float32(float64(p.LR) / bc1)
	rbc2 := float32(1 / math.Sqrt(bc2))
	e.parallel(pt.n, 16, func(lo, hi int) {
		ps, gs, ms, vs := pt.f[lo:hi], gt.f[lo:hi], mt.f[lo:hi], vt.f[lo:hi]
		for i, g := range gs {
			mi := b1*ms[i] + (1-b1)*g
			vi := b2*vs[i] + (1-b2)*g*g
			ms[i], vs[i] = mi, vi
			denom := float32(math.Sqrt(float64(vi)))*rbc2 + p.Eps
			ps[i] = ps[i]*decay - stepSize*mi/denom
		}
		pt.round(lo, hi)
		mt.round(lo, hi)
		vt.round(lo, hi)
	})
}

// SumSquares returns Σ x² over every element of ts, accumulated in float64
// in a fixed order (for the gradient norm). It returns 0 after a failure.
func (e *Engine) SumSquares(ts ...backend.Tensor) float64 {
	c := e.begin("SumSquares")
	if c == nil {
		return 0
	}
	var total float64
	for _, t := range ts {
		x := c.float(t, "tensor")
		if !c.ok() {
			return 0
		}
		const chunk = 1 << 14
		nc := (x.n + chunk - 1) / chunk
		part := make([]float64, nc)
		e.parallel(nc, chunk, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				var s float64
				for _, v := range x.f[k*chunk : min(x.n, (k+1)*chunk)] {
					s += float64(v) * float64(v)
				}
				part[k] = s
			}
		})
		for _, s := range part {
			total += s
		}
	}
	return total
}
