package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// Add computes out = a + b elementwise (equal element counts; out may alias
// a or b).
func (e *Engine) Add(out, a, b backend.Tensor) {
	c := e.begin("Add")
	if c == nil {
		return
	}
	o := c.float(out, "out")
	if !c.ok() {
		return
	}
	x, y := c.floatN(a, "a", o.n), c.floatN(b, "b", o.n)
	if !c.ok() {
		return
	}
	e.parallel(o.n, 1, func(lo, hi int) {
		xs, ys, os := x.f[lo:hi], y.f[lo:hi], o.f[lo:hi]
		for i := range os {
			os[i] = xs[i] + ys[i]
		}
		o.round(lo, hi)
	})
}

// Scale multiplies every element of t by s in place.
func (e *Engine) Scale(t backend.Tensor, s float32) {
	c := e.begin("Scale")
	if c == nil {
		return
	}
	x := c.float(t, "t")
	if !c.ok() {
		return
	}
	e.parallel(x.n, 1, func(lo, hi int) {
		xs := x.f[lo:hi]
		for i := range xs {
			xs[i] *= s
		}
		x.round(lo, hi)
	})
}

// rowsOf returns the number of rows of x when its last dimension is cols.
func (c *opCheck) rowsOf(x *Tensor, name string, cols int) int {
	if x == nil {
		return 0
	}
	if len(x.shape) == 0 || x.shape[len(x.shape)-1] != cols {
		c.failf("%s %v: last dimension must be %d", name, x.shape, cols)
		return 0
	}
	return x.n / max(cols, 1)
}

// AddBias adds bias [C] to every row of x [..., C] in place.
func (e *Engine) AddBias(x, bias backend.Tensor) {
	c := e.begin("AddBias")
	if c == nil {
		return
	}
	xt, bt := c.float(x, "x"), c.float(bias, "bias")
	if !c.ok() {
		return
	}
	cols := bt.n
	rows := c.rowsOf(xt, "x", cols)
	if !c.ok() {
		return
	}
	e.parallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xt.f[r*cols : (r+1)*cols]
			for j, b := range bt.f {
				row[j] += b
			}
		}
		xt.round(lo*cols, hi*cols)
	})
}

// BiasBackward accumulates dbias[c] += Σ_n dout[n, c]. Columns are split
// over goroutines; each sums its rows in order.
func (e *Engine) BiasBackward(dbias, dout backend.Tensor) {
	c := e.begin("BiasBackward")
	if c == nil {
		return
	}
	db, dy := c.float(dbias, "dbias"), c.float(dout, "dout")
	if !c.ok() {
		return
	}
	cols := db.n
	rows := c.rowsOf(dy, "dout", cols)
	if !c.ok() {
		return
	}
	e.parallel(cols, rows, func(lo, hi int) {
		acc := make([]float32, hi-lo)
		for r := 0; r < rows; r++ {
			row := dy.f[r*cols+lo : r*cols+hi]
			for j, v := range row {
				acc[j] += v
			}
		}
		for j, v := range acc {
			db.f[lo+j] += v
		}
		db.round(lo, hi)
	})
}

// sigmoid is the logistic function in float32.
// sigmoids (sigmoid_amd64.go) computes it over a slice with the same bits.
func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// SwiGLUForward computes out = silu(gate)·up with silu(g) = g·σ(g).
func (e *Engine) SwiGLUForward(out, gate, up backend.Tensor) {
	c := e.begin("SwiGLUForward")
	if c == nil {
		return
	}
	o := c.float(out, "out")
	if !c.ok() {
		return
	}
	g, u := c.floatN(gate, "gate", o.n), c.floatN(up, "up", o.n)
	if !c.ok() {
		return
	}
	e.parallel(o.n, 8, func(lo, hi int) {
		var sb [256]float32
		for c := lo; c < hi; c += len(sb) {
			s := sb[:min(len(sb), hi-c)]
			sigmoids(s, g.f[c:])
			for i, sg := range s {
				x := g.f[c+i]
				o.f[c+i] = x * sg * u.f[c+i]
			}
		}
		o.round(lo, hi)
	})
}

// SwiGLUBackward writes dup = dout·silu(gate) and
// dgate = dout·up·σ(gate)·(1 + gate·(1 − σ(gate))) (both overwritten).
func (e *Engine) SwiGLUBackward(dgate, dup, dout, gate, up backend.Tensor) {
	c := e.begin("SwiGLUBackward")
	if c == nil {
		return
	}
	dy := c.float(dout, "dout")
	if !c.ok() {
		return
	}
	n := dy.n
	dg, du := c.floatN(dgate, "dgate", n), c.floatN(dup, "dup", n)
	g, u := c.floatN(gate, "gate", n), c.floatN(up, "up", n)
	if !c.ok() {
		return
	}
	e.parallel(n, 8, func(lo, hi int) {
		var sb [256]float32
		for c := lo; c < hi; c += len(sb) {
			ss := sb[:min(len(sb), hi-c)]
			sigmoids(ss, g.f[c:])
			for j, s := range ss {
				i := c + j
				x, y, d := g.f[i], u.f[i], dy.f[i]
				du.f[i] = d * x * s
				dg.f[i] = d * y * s * (1 + x*(1-s))
			}
		}
		dg.round(lo, hi)
		du.round(lo, hi)
	})
}
