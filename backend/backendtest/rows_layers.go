package backendtest

import (
	"github.com/sirl-dev/sirl/backend"
)

// layerRows covers embedding, RMSNorm and RoPE, forward and backward.
func layerRows() []row {
	var rs []row
	for _, dt := range dtypes() {
		dt := dt
		rs = append(rs,
			row{name: "embedding_fwd_" + dt.dt.String(), run: func(h *harness) {
				const v, d, n = 50, 24, 70
				tab, tv := h.input(dt.dt, h.normal(v*d, 1), v, d)
				ids := randIDs(h, n, v)
				out := h.output(dt.dt, n, d)
				h.e.EmbeddingForward(out, tab, h.ints(ids, n))
				h.check("out", h.get(out), refGather(tv, ids, d), dt.tol)
			}},
			row{name: "rmsnorm_fwd_" + dt.dt.String(), run: func(h *harness) {
				const n, c = 45, 96
				x, xv := h.input(dt.dt, h.normal(n*c, 2), n, c)
				w, wv := h.input(dt.dt, h.uniform(c, 0.5, 1.5), c)
				out, rstd := h.output(dt.dt, n, c), h.output(backend.F32, n)
				h.e.RMSNormForward(out, rstd, x, w, 1e-5)
				ro, rr := refRMSNorm(xv, wv, n, c, float64(float32(1e-5)))
				h.check("out", h.get(out), ro, dt.tol)
				h.check("rstd", h.get(rstd), rr, max(dt.tol, tolF32))
			}},
			row{name: "rope_fwd_" + dt.dt.String(), run: func(h *harness) {
				const n, heads, hd = 9, 3, 16
				x, xv := h.input(dt.dt, h.normal(n*heads*hd, 1), n, heads, hd)
				pos := randIDs(h, n, 100)
				h.e.RoPEForward(x, h.ints(pos, n), heads, hd, 10000)
				h.check("x", h.get(x), refRoPE(xv, pos, heads, hd, 10000, 1), dt.tol)
			}},
		)
	}
	rs = append(rs,
		row{name: "embedding_bwd", run: func(h *harness) {
			const v, d, n = 50, 24, 70
			dtab, d0 := h.input(backend.F32, h.normal(v*d, 1), v, d)
			dy, dyv := h.input(backend.F32, h.normal(n*d, 1), n, d)
			ids := randIDs(h, n, v)
			h.e.EmbeddingBackward(dtab, dy, h.ints(ids, n))
			got := sub(h.get(dtab), d0)
			ref := make([]float64, v*d)
			for i, id := range ids {
				for j := 0; j < d; j++ {
					ref[int(id)*d+j] += dyv[i*d+j]
				}
			}
			h.check("dtable", got, ref, tolF32)
			tab := f64(h.normal(v*d, 1))
			h.fdCheck("dtable", tab, got, ref, func() float64 { return dot(dyv, refGather(tab, ids, d)) }, 60)
		}},
		row{name: "rmsnorm_bwd", run: func(h *harness) {
			const n, c, eps = 21, 40, 1e-5
			x, xv := h.input(backend.F32, h.normal(n*c, 2), n, c)
			w, wv := h.input(backend.F32, h.uniform(c, 0.5, 1.5), c)
			dy, dyv := h.input(backend.F32, h.normal(n*c, 1), n, c)
			out, rstd := h.output(backend.F32, n, c), h.output(backend.F32, n)
			h.e.RMSNormForward(out, rstd, x, w, eps)
			dx := h.output(backend.F32, n, c)
			dw, dw0 := h.input(backend.F32, h.normal(c, 1), c)
			h.e.RMSNormBackward(dx, dw, dy, x, w, rstd)
			e32 := float64(float32(eps))
			rdx, rdw := refRMSNormBackward(dyv, xv, wv, n, c, e32)
			gx, gw := h.get(dx), sub(h.get(dw), dw0)
			h.check("dx", gx, rdx, tolAcc)
			h.check("dw", gw, rdw, tolAcc)
			loss := func() float64 {
				o, _ := refRMSNorm(xv, wv, n, c, e32)
				return dot(dyv, o)
			}
			h.fdCheck("dx", xv, gx, rdx, loss, 40)
			h.fdCheck("dw", wv, gw, rdw, loss, 40)
		}},
		row{name: "rope_bwd", run: func(h *harness) {
			const n, heads, hd = 7, 2, 8
			dy, dyv := h.input(backend.F32, h.normal(n*heads*hd, 1), n, heads, hd)
			pos := randIDs(h, n, 50)
			h.e.RoPEBackward(dy, h.ints(pos, n), heads, hd, 500)
			got := h.get(dy)
			ref := refRoPE(dyv, pos, heads, hd, 500, -1)
			h.check("dx", got, ref, tolF32)
			xv := f64(h.normal(n*heads*hd, 1))
			h.fdCheck("dx", xv, got, ref, func() float64 { return dot(dyv, refRoPE(xv, pos, heads, hd, 500, 1)) }, 40)
		}},
	)
	return rs
}

// randIDs returns n ids in [0, v).
func randIDs(h *harness, n, v int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(h.rng.IntN(v))
	}
	return ids
}

// refGather returns table[ids[i]] rows.
func refGather(tab []float64, ids []int32, d int) []float64 {
	out := make([]float64, 0, len(ids)*d)
	for _, id := range ids {
		out = append(out, tab[int(id)*d:(int(id)+1)*d]...)
	}
	return out
}
