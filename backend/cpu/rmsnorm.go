package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// rmsArgs validates x [N, C] (any rank, last dimension C = len(w)), the
// same-sized y (out or dout) and rstd [N].
func rmsArgs(c *opCheck, y, rstd, x, w backend.Tensor) (yt, rt, xt, wt *Tensor, n, cols int) {
	wt, xt = c.float(w, "w"), c.float(x, "x")
	if !c.ok() {
		return
	}
	cols = wt.n
	n = c.rowsOf(xt, "x", cols)
	yt, rt = c.floatN(y, "out", xt.n), c.floatN(rstd, "rstd", n)
	c.ok()
	return
}

// RMSNormForward computes out = x·rstd·w per row, rstd = 1/sqrt(mean(x²)+eps),
// and saves rstd [N].
func (e *Engine) RMSNormForward(out, rstd, x, w backend.Tensor, eps float32) {
	c := e.begin("RMSNormForward")
	if c == nil {
		return
	}
	o, r, xt, wt, n, cols := rmsArgs(c, out, rstd, x, w)
	if !c.ok() {
		return
	}
	e.parallel(n, 2*cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := xt.f[i*cols : (i+1)*cols]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			rs := float32(1 / math.Sqrt(ss/float64(cols)+float64(eps)))
			r.f[i] = rs
			dst := o.f[i*cols : (i+1)*cols]
			for j, v := range row {
				dst[j] = v * rs * wt.f[j]
			}
		}
		o.round(lo*cols, hi*cols)
		r.round(lo, hi)
	})
}

// RMSNormBackward writes dx = rstd·(w⊙dout − x·rstd²·⟨w⊙dout, x⟩/C) and
// accumulates dw += Σ_n dout⊙x·rstd (columns split over goroutines, rows
// summed in order).
func (e *Engine) RMSNormBackward(dx, dw, dout, x, w, rstd backend.Tensor) {
	c := e.begin("RMSNormBackward")
	if c == nil {
		return
	}
	dy, r, xt, wt, n, cols := rmsArgs(c, dout, rstd, x, w)
	if !c.ok() {
		return
	}
	dxt, dwt := c.floatN(dx, "dx", xt.n), c.floatN(dw, "dw", cols)
	if !c.ok() {
		return
	}
	e.parallel(cols, n, func(lo, hi int) {
		acc := make([]float32, hi-lo)
		for i := 0; i < n; i++ {
			rs := r.f[i]
			g := dy.f[i*cols+lo : i*cols+hi]
			xs := xt.f[i*cols+lo : i*cols+hi]
			for j := range acc {
				acc[j] += g[j] * xs[j] * rs
			}
		}
		for j, v := range acc {
			dwt.f[lo+j] += v
		}
		dwt.round(lo, hi)
	})
	e.parallel(n, 3*cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rs := r.f[i]
			g := dy.f[i*cols : (i+1)*cols]
			xs := xt.f[i*cols : (i+1)*cols]
			var dot float64
			for j, v := range xs {
				dot += float64(wt.f[j]) * float64(g[j]) * float64(v)
			}
			k := float32(dot/float64(cols)) * rs * rs
			dst := dxt.f[i*cols : (i+1)*cols]
			for j, v := range xs {
				dst[j] = rs * (wt.f[j]*g[j] - v*k)
			}
		}
		dxt.round(lo*cols, hi*cols)
	})
}
