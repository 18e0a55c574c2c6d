//go:build cuda || cudaemu

package gpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// AdamW updates param in place as torch.optim.AdamW (and the CPU engine,
// bit for bit in fp32) do.
func (e *Engine) AdamW(param, grad, m, v backend.Tensor, p backend.AdamWParams) {
	e.adamw("AdamW", param, grad, m, v, nil, p)
}

// AdamWCopy is AdamW that also writes the updated parameter, rounded to
// bf16, into copy: the bf16 working copy of an fp32 master weight, in the
// same pass.
func (e *Engine) AdamWCopy(param, grad, m, v, copy backend.Tensor, p backend.AdamWParams) {
	e.adamw("AdamWCopy", param, grad, m, v, copy, p)
}

func (e *Engine) adamw(op string, param, grad, m, v, cp backend.Tensor, p backend.AdamWParams) {
	e.run(op, func() error {
		pt, err := e.getFloat(param, "param", -1)
		if err != nil {
			return err
		}
		var ts [3]*Tensor
		for i, x := range []backend.Tensor{grad, m, v} {
			if ts[i], err = e.getFloat(x, [...]string{"grad", "m", "v"}[i], pt.n); err != nil {
				return err
			}
		}
		var copyPtr devPtr
		if cp != nil {
			c, err := e.getDT(cp, "copy", backend.BF16, pt.n)
			if err != nil {
				return err
			}
			copyPtr = c.ptr
		}
		if p.Step < 1 {
			return fmt.Errorf("step %d must be ≥ 1", p.Step)
		}
		bc1 := 1 - math.Pow(float64(p.Beta1), float64(p.Step))
		bc2 := 1 - math.Pow(float64(p.Beta2), float64(p.Step))
		decay := 1 - p.LR*p.WeightDecay
		step := float32(float64(p.LR) / bc1)
		rbc2 := float32(1 / math.Sqrt(bc2))
		n := int64(pt.n)
		if n == 0 {
			return nil
		}
		return e.exec(func() error {
			return e.launch("adamw", e.gridFor(n), dim3{256, 1, 1}, 0, pt.ptr, int(pt.dt), ts[0].ptr, int(ts[0].dt),
				ts[1].ptr, int(ts[1].dt), ts[2].ptr, int(ts[2].dt), copyPtr, n, p.Beta1, p.Beta2, p.Eps, decay, step, rbc2)
		})
	})
}

// SumSquares returns Σ x² over every element of ts in float64 (per-block
// partials, then one fixed-order sum; one 8-byte download). It returns 0
// after a failure.
func (e *Engine) SumSquares(ts ...backend.Tensor) float64 {
	var total float64
	e.run("SumSquares", func() error {
		xs := make([]*Tensor, 0, len(ts))
		for _, t := range ts {
			x, err := e.getFloat(t, "tensor", -1)
			if err != nil {
				return err
			}
			if x.n > 0 {
				xs = append(xs, x)
			}
		}
		if len(xs) == 0 {
			return nil
		}
		return e.exec(func() error {
			mark := e.scratch.mark()
			defer e.scratch.release(mark)
			blocks := make([]int, len(xs))
			nb := 0
			for i, x := range xs {
				blocks[i] = int(min((int64(x.n)+255)/256, int64(max(e.sms, 1)*8)))
				nb += blocks[i]
			}
			part, err := e.scratchAlloc(int64(nb+1) * 8)
			if err != nil {
				return err
			}
			at := part
			for i, x := range xs {
				if err := e.launch("sumsq_partial", dim3{blocks[i], 1, 1}, dim3{256, 1, 1}, 0, x.ptr, int(x.dt), int64(x.n), at); err != nil {
					return err
				}
				at += devPtr(8 * blocks[i])
			}
			out := part + devPtr(8*nb)
			if err := e.launch("sum_final", dim3{1, 1, 1}, dim3{256, 1, 1}, 0, part, nb, out); err != nil {
				return err
			}
			return e.toHost(out, 8, func(buf []byte, _ int) {
				total = math.Float64frombits(binary.LittleEndian.Uint64(buf))
			})
		})
	})
	if e.Err() != nil {
		return 0
	}
	return total
}
