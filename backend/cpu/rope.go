package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// RoPEForward rotates x [N, heads, headDim] in place at positions pos (I32
// [N]) in the rotate-half layout of Hugging Face Llama: for i < headDim/2,
// with angle = pos·theta^(−2i/headDim) (computed in float64),
//
//	x[i]        ← x[i]·cos − x[i+half]·sin
//	x[i+half]   ← x[i+half]·cos + x[i]·sin
func (e *Engine) RoPEForward(x, pos backend.Tensor, heads, headDim int, theta float32) {
	e.rope("RoPEForward", x, pos, heads, headDim, theta, 1)
}

// RoPEBackward applies the inverse rotation (angle → −angle) to dx in place.
func (e *Engine) RoPEBackward(dx, pos backend.Tensor, heads, headDim int, theta float32) {
	e.rope("RoPEBackward", dx, pos, heads, headDim, theta, -1)
}

// rope rotates by sign·angle.
func (e *Engine) rope(op string, x, pos backend.Tensor, heads, headDim int, theta float32, sign float64) {
	c := e.begin(op)
	if c == nil {
		return
	}
	p := c.ints(pos, "pos", -1)
	if !c.ok() {
		return
	}
	n := p.n
	c.require(heads > 0 && headDim > 0 && headDim%2 == 0, "heads %d, headDim %d: need positive, headDim even", heads, headDim)
	c.require(theta > 0, "theta %g must be positive", theta)
	xt := c.floatN(x, "x", n*heads*headDim)
	if !c.ok() {
		return
	}
	half := headDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = math.Pow(float64(theta), -2*float64(i)/float64(headDim))
	}
	e.parallel(n, heads*headDim*2+half*8, func(lo, hi int) {
		cs := make([]float32, half)
		sn := make([]float32, half)
		for t := lo; t < hi; t++ {
			ps := float64(p.i[t])
			for i, f := range inv {
				s, co := math.Sincos(ps * f)
				cs[i], sn[i] = float32(co), float32(sign*s)
			}
			for h := 0; h < heads; h++ {
				v := xt.f[(t*heads+h)*headDim : (t*heads+h+1)*headDim]
				x1, x2 := v[:half], v[half:]
				for i := range x1 {
					a, b := x1[i], x2[i]
					x1[i] = a*cs[i] - b*sn[i]
					x2[i] = b*cs[i] + a*sn[i]
				}
			}
		}
		xt.round(lo*heads*headDim, hi*heads*headDim)
	})
}
