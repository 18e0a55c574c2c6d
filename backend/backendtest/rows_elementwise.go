package backendtest

import (
	"github.com/sirl-dev/sirl/backend"
)

// elementwiseRows covers Add, Scale, AddBias/BiasBackward and SwiGLU.
func elementwiseRows() []row {
	var rs []row
	for _, dt := range dtypes() {
		dt := dt
		rs = append(rs,
			row{name: "add_" + dt.dt.String(), run: func(h *harness) {
				a, av := h.input(dt.dt, h.normal(3*777, 1), 3, 777)
				b, bv := h.input(dt.dt, h.normal(3*777, 1), 3*777)
				out := h.output(dt.dt, 3, 777)
				h.e.Add(out, a, b)
				want := make([]float64, len(av))
				for i := range want {
					want[i] = av[i] + bv[i]
				}
				h.check("out", h.get(out), want, dt.tol)
				h.e.Add(a, a, b) // out aliases a
				h.check("aliased out", h.get(a), want, dt.tol)
			}},
			row{name: "scale_" + dt.dt.String(), run: func(h *harness) {
				x, xv := h.input(dt.dt, h.normal(5000, 1), 50, 100)
				h.e.Scale(x, -0.37)
				want := make([]float64, len(xv))
				for i, v := range xv {
					want[i] = v * float64(float32(-0.37))
				}
				h.check("t", h.get(x), want, dt.tol)
			}},
			row{name: "swiglu_fwd_" + dt.dt.String(), run: func(h *harness) {
				n := 65 * 48
				g, gv := h.input(dt.dt, h.normal(n, 2), 65, 48)
				u, uv := h.input(dt.dt, h.normal(n, 1), 65, 48)
				out := h.output(dt.dt, 65, 48)
				h.e.SwiGLUForward(out, g, u)
				h.check("out", h.get(out), refSwiGLU(gv, uv), dt.tol)
			}},
		)
	}
	rs = append(rs,
		row{name: "addbias", run: func(h *harness) {
			x, xv := h.input(backend.F32, h.normal(37*29, 1), 37, 29)
			b, bv := h.input(backend.F32, h.normal(29, 1), 29)
			h.e.AddBias(x, b)
			want := make([]float64, len(xv))
			for i := range want {
				want[i] = xv[i] + bv[i%29]
			}
			h.check("x", h.get(x), want, tolF32)
		}},
		row{name: "biasbackward", run: func(h *harness) {
			const n, c = 300, 41
			dy, dyv := h.input(backend.F32, h.normal(n*c, 1), n, c)
			db, db0 := h.input(backend.F32, h.normal(c, 1), c)
			h.e.BiasBackward(db, dy)
			got := h.get(db)
			ref := make([]float64, c)
			for i, v := range dyv {
				ref[i%c] += v
			}
			h.check("dbias", sub(got, db0), ref, tolF32)
			bias := make([]float64, c)
			x := f64(h.normal(n*c, 1))
			h.fdCheck("dbias", bias, sub(got, db0), ref, func() float64 {
				var l float64
				for i := range x {
					l += dyv[i] * (x[i] + bias[i%c])
				}
				return l
			}, c)
		}},
		row{name: "swiglu_bwd", run: func(h *harness) {
			const n = 33 * 20
			g, gv := h.input(backend.F32, h.normal(n, 2), 33, 20)
			u, uv := h.input(backend.F32, h.normal(n, 1), 33, 20)
			dy, dyv := h.input(backend.F32, h.normal(n, 1), 33, 20)
			dg, du := h.output(backend.F32, 33, 20), h.output(backend.F32, 33, 20)
			h.e.SwiGLUBackward(dg, du, dy, g, u)
			rdg, rdu := make([]float64, n), make([]float64, n)
			for i := range rdg {
				s := sigm(gv[i])
				rdu[i] = dyv[i] * gv[i] * s
				rdg[i] = dyv[i] * uv[i] * s * (1 + gv[i]*(1-s))
			}
			gotG, gotU := h.get(dg), h.get(du)
			h.check("dgate", gotG, rdg, tolF32)
			h.check("dup", gotU, rdu, tolF32)
			loss := func() float64 { return dot(dyv, refSwiGLU(gv, uv)) }
			h.fdCheck("dgate", gv, gotG, rdg, loss, 40)
			h.fdCheck("dup", uv, gotU, rdu, loss, 40)
		}},
	)
	return rs
}

// refSwiGLU is silu(g)·u.
func refSwiGLU(g, u []float64) []float64 {
	y := make([]float64, len(g))
	for i := range y {
		y[i] = g[i] * sigm(g[i]) * u[i]
	}
	return y
}

// dtypeTol is a float dtype a row runs with and its tolerance.
type dtypeTol struct {
	dt  backend.DType
	tol float64
}

// dtypes are the float dtypes of the rows that run in both.
func dtypes() []dtypeTol {
	return []dtypeTol{{backend.F32, tolF32}, {backend.BF16, tolBF}}
}
