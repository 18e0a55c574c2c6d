//go:build cuda || cudaemu

package gpu

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// rowsOf returns the rows of x when its last dimension is cols.
func rowsOf(x *Tensor, what string, cols int) (int, error) {
	if cols <= 0 || len(x.shape) == 0 || x.shape[len(x.shape)-1] != cols {
		return 0, fmt.Errorf("%s %v must end in dimension %d", what, x.shape, cols)
	}
	return x.n / cols, nil
}

// MatMul computes c = alpha·op(a)·op(b) + beta·c: rank-2 operands, or
// rank-3 a and c with a rank-3 or shared rank-2 b. cuBLAS does it when the
// dtypes allow (a and b equal; fp32 → fp32 C; bf16 → bf16 or fp32 C),
// the gemm_simt kernel otherwise. With beta = 0, c is not read.
func (e *Engine) MatMul(c, a, b backend.Tensor, p backend.MatMulParams) {
	e.run("MatMul", func() error {
		ct, err := e.getFloat(c, "c", -1)
		if err != nil {
			return err
		}
		at, err := e.getFloat(a, "a", -1)
		if err != nil {
			return err
		}
		bt, err := e.getFloat(b, "b", -1)
		if err != nil {
			return err
		}
		ra, rb, rc := len(at.shape), len(bt.shape), len(ct.shape)
		if !((ra == 2 && rb == 2 && rc == 2) || (ra == 3 && rc == 3 && (rb == 2 || rb == 3))) {
			return fmt.Errorf("ranks a %v, b %v, c %v: want all rank 2, or rank-3 a and c with rank-2 or rank-3 b",
				at.shape, bt.shape, ct.shape)
		}
		batch := 1
		if ra == 3 {
			batch = at.shape[0]
			if ct.shape[0] != batch || (rb == 3 && bt.shape[0] != batch) {
				return fmt.Errorf("batch sizes of a %v, b %v, c %v differ", at.shape, bt.shape, ct.shape)
			}
		}
		as, bs := at.shape[ra-2:], bt.shape[rb-2:]
		m, k := as[0], as[1]
		if p.TransA {
			m, k = k, m
		}
		kb, n := bs[0], bs[1]
		if p.TransB {
			kb, n = n, kb
		}
		if kb != k {
			return fmt.Errorf("inner dimensions differ: op(a) is %dx%d, op(b) is %dx%d (a %v, b %v, transA %v, transB %v)",
				m, k, kb, n, at.shape, bt.shape, p.TransA, p.TransB)
		}
		if ct.shape[rc-2] != m || ct.shape[rc-1] != n {
			return fmt.Errorf("c %v, want [..., %d, %d]", ct.shape, m, n)
		}
		if ct == at || ct == bt {
			return fmt.Errorf("c may not alias a or b")
		}
		g := gemmDesc{transA: p.TransA, transB: p.TransB, m: m, n: n, k: k, a: at.ptr, b: bt.ptr, c: ct.ptr,
			at: at.dt, bt: bt.dt, ct: ct.dt, lda: as[1], ldb: bs[1], ldc: n,
			sa: int64(m * k), sc: int64(m * n), batch: batch, alpha: p.Alpha, beta: p.Beta}
		if rb == 3 {
			g.sb = int64(k * n)
		}
		if batch > 1 && rb == 2 && !p.TransA {
			g.m, g.batch, g.sa, g.sc = batch*m, 1, 0, 0 // a shared B: one tall product
		}
		if m == 0 || n == 0 || batch == 0 {
			return nil
		}
		return e.exec(func() error { return e.gemm(g) })
	})
}

// gemm runs one product through cuBLAS or the fallback kernel (CUDA
// goroutine only). k = 0 scales C by beta.
func (e *Engine) gemm(g gemmDesc) error {
	if e.blas && g.supported() && g.k > 0 {
		return e.drv.gemm(g.colMajor())
	}
	tb := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	return e.launch("gemm_simt", dim3{(g.n + 63) / 64, (g.m + 63) / 64, g.batch}, dim3{16, 16, 1}, 0,
		g.c, int(g.ct), g.a, int(g.at), g.b, int(g.bt), g.m, g.n, g.k, tb(g.transA), tb(g.transB),
		int64(g.lda), int64(g.ldb), int64(g.ldc), g.sa, g.sb, g.sc, g.alpha, g.beta)
}

// Add computes out = a + b elementwise (out may alias a or b).
func (e *Engine) Add(out, a, b backend.Tensor) {
	e.run("Add", func() error {
		o, err := e.getFloat(out, "out", -1)
		if err != nil {
			return err
		}
		x, err := e.getFloat(a, "a", o.n)
		if err != nil {
			return err
		}
		y, err := e.getFloat(b, "b", o.n)
		if err != nil {
			return err
		}
		n := int64(o.n)
		return e.exec(func() error {
			return e.launch("add", e.gridFor(n), dim3{256, 1, 1}, 0, o.ptr, int(o.dt), x.ptr, int(x.dt), y.ptr, int(y.dt), n)
		})
	})
}

// Scale multiplies t by s in place.
func (e *Engine) Scale(t backend.Tensor, s float32) {
	e.run("Scale", func() error {
		x, err := e.getFloat(t, "t", -1)
		if err != nil {
			return err
		}
		n := int64(x.n)
		return e.exec(func() error {
			return e.launch("scale", e.gridFor(n), dim3{256, 1, 1}, 0, x.ptr, int(x.dt), s, n)
		})
	})
}

// AddBias adds bias [C] to every row of x [..., C] in place.
func (e *Engine) AddBias(x, bias backend.Tensor) {
	e.run("AddBias", func() error {
		b, err := e.getFloat(bias, "bias", -1)
		if err != nil {
			return err
		}
		xt, err := e.getFloat(x, "x", -1)
		if err != nil {
			return err
		}
		rows, err := rowsOf(xt, "x", b.n)
		if err != nil {
			return err
		}
		return e.exec(func() error {
			return e.launch("add_bias", e.gridFor(int64(xt.n)), dim3{256, 1, 1}, 0, xt.ptr, int(xt.dt), b.ptr, int(b.dt),
				int64(rows), b.n)
		})
	})
}

// BiasBackward accumulates dbias[c] += Σ_n dout[n, c], deterministically
// (chunk partial sums in scratch, then one fixed-order pass).
func (e *Engine) BiasBackward(dbias, dout backend.Tensor) {
	e.run("BiasBackward", func() error {
		db, err := e.getFloat(dbias, "dbias", -1)
		if err != nil {
			return err
		}
		dy, err := e.getFloat(dout, "dout", -1)
		if err != nil {
			return err
		}
		rows, err := rowsOf(dy, "dout", db.n)
		if err != nil {
			return err
		}
		return e.exec(func() error { return e.colsumAccum(db, dy.ptr, int(dy.dt), rows, db.n) })
	})
}

// colsumAccum adds the column sums of src [rows, C] onto dst [C] (CUDA
// goroutine only).
func (e *Engine) colsumAccum(dst *Tensor, src devPtr, srcDT, rows, C int) error {
	if rows == 0 || C == 0 {
		return nil
	}
	gx := (C + 31) / 32
	chunks := min((rows+63)/64, max(1, 2*e.sms/gx), 256)
	if chunks <= 1 {
		return e.launch("colsum", dim3{gx, 1, 1}, dim3{32, 8, 1}, 0, dst.ptr, int(dst.dt), 1, src, srcDT,
			int64(rows), C, int64(rows))
	}
	mark := e.scratch.mark()
	defer e.scratch.release(mark)
	part, err := e.scratchAlloc(int64(chunks) * int64(C) * 4)
	if err != nil {
		return err
	}
	per := (rows + chunks - 1) / chunks
	chunks = (rows + per - 1) / per
	if err := e.launch("colsum", dim3{gx, chunks, 1}, dim3{32, 8, 1}, 0, part, int(backend.F32), 0, src, srcDT,
		int64(rows), C, int64(per)); err != nil {
		return err
	}
	return e.launch("colsum", dim3{gx, 1, 1}, dim3{32, 8, 1}, 0, dst.ptr, int(dst.dt), 1, part, int(backend.F32),
		int64(chunks), C, int64(chunks))
}

// embeddingArgs validates table [V, d], ids I32 [N] and rows [N, d].
func (e *Engine) embeddingArgs(rows, table, ids backend.Tensor) (r, tab, id *Tensor, n, v, d int, err error) {
	if tab, err = e.getFloat(table, "table", -1); err != nil {
		return
	}
	if len(tab.shape) != 2 {
		err = fmt.Errorf("table %v must be [V, d]", tab.shape)
		return
	}
	v, d = tab.shape[0], tab.shape[1]
	if id, err = e.getDT(ids, "ids", backend.I32, -1); err != nil {
		return
	}
	n = id.n
	r, err = e.getFloat(rows, "rows", n*d)
	return
}

// EmbeddingForward gathers out[i] = table[ids[i]]. The GPU cannot check ids
// without reading them back: an id outside [0, V) gives a zero row.
func (e *Engine) EmbeddingForward(out, table, ids backend.Tensor) {
	e.run("EmbeddingForward", func() error {
		o, tab, id, n, v, d, err := e.embeddingArgs(out, table, ids)
		if err != nil || n == 0 {
			return err
		}
		return e.exec(func() error {
			return e.launch("embedding_fwd", dim3{n, 1, 1}, dim3{min(256, max(32, d)), 1, 1}, 0,
				o.ptr, int(o.dt), tab.ptr, int(tab.dt), id.ptr, n, d, v)
		})
	})
}

// EmbeddingBackward scatter-adds dtable[ids[i]] += dout[i], adding the
// rows of each id in token order (a sort of the (id, i) keys first), so
// the result is deterministic and, in fp32, equal to the CPU engine's.
func (e *Engine) EmbeddingBackward(dtable, dout, ids backend.Tensor) {
	e.run("EmbeddingBackward", func() error {
		dy, tab, id, n, v, d, err := e.embeddingArgs(dout, dtable, ids)
		if err != nil || n == 0 {
			return err
		}
		p := 1
		for p < n {
			p *= 2
		}
		return e.exec(func() error {
			mark := e.scratch.mark()
			defer e.scratch.release(mark)
			keys, err := e.scratchAlloc(int64(p) * 8)
			if err != nil {
				return err
			}
			if err := e.launch("embedding_sort_keys", dim3{1, 1, 1}, dim3{1024, 1, 1}, 0, id.ptr, n, v, keys, p); err != nil {
				return err
			}
			return e.launch("embedding_bwd_apply", dim3{n, 1, 1}, dim3{min(256, max(32, d)), 1, 1}, 0,
				tab.ptr, int(tab.dt), dy.ptr, int(dy.dt), keys, n, d, v)
		})
	})
}

// rmsArgs validates x [..., C] (C = len(w)), y of x's size, rstd F32 [N].
func (e *Engine) rmsArgs(y, x, w, rstd backend.Tensor, ywhat string) (yt, xt, wt, rt *Tensor, n, c int, err error) {
	if wt, err = e.getFloat(w, "w", -1); err != nil {
		return
	}
	c = wt.n
	if xt, err = e.getFloat(x, "x", -1); err != nil {
		return
	}
	if n, err = rowsOf(xt, "x", c); err != nil {
		return
	}
	if yt, err = e.getFloat(y, ywhat, xt.n); err != nil {
		return
	}
	rt, err = e.getDT(rstd, "rstd", backend.F32, n)
	return
}

// RMSNormForward: out = x·rstd·w per row, rstd = 1/sqrt(mean(x²)+eps) saved.
func (e *Engine) RMSNormForward(out, rstd, x, w backend.Tensor, eps float32) {
	e.run("RMSNormForward", func() error {
		o, xt, wt, rt, n, c, err := e.rmsArgs(out, x, w, rstd, "out")
		if err != nil || n == 0 {
			return err
		}
		return e.exec(func() error {
			return e.launch("rmsnorm_fwd", dim3{n, 1, 1}, dim3{256, 1, 1}, 0,
				o.ptr, int(o.dt), rt.ptr, xt.ptr, int(xt.dt), wt.ptr, int(wt.dt), n, c, eps)
		})
	})
}

// RMSNormBackward writes dx and accumulates dw (per-block partials, then a
// fixed-order column sum).
func (e *Engine) RMSNormBackward(dx, dw, dout, x, w, rstd backend.Tensor) {
	e.run("RMSNormBackward", func() error {
		dxt, xt, wt, rt, n, c, err := e.rmsArgs(dx, x, w, rstd, "dx")
		if err != nil {
			return err
		}
		dy, err := e.getFloat(dout, "dout", xt.n)
		if err != nil {
			return err
		}
		dwt, err := e.getFloat(dw, "dw", c)
		if err != nil || n == 0 {
			return err
		}
		return e.exec(func() error {
			mark := e.scratch.mark()
			defer e.scratch.release(mark)
			nb := min(n, max(1, 2*e.sms))
			per := (n + nb - 1) / nb
			nb = (n + per - 1) / per
			part, err := e.scratchAlloc(int64(nb) * int64(c) * 4)
			if err != nil {
				return err
			}
			if err := e.launch("rmsnorm_bwd", dim3{nb, 1, 1}, dim3{256, 1, 1}, 0, dxt.ptr, int(dxt.dt), part,
				dy.ptr, int(dy.dt), xt.ptr, int(xt.dt), wt.ptr, int(wt.dt), rt.ptr, n, c, per); err != nil {
				return err
			}
			return e.launch("colsum", dim3{(c + 31) / 32, 1, 1}, dim3{32, 8, 1}, 0, dwt.ptr, int(dwt.dt), 1,
				part, int(backend.F32), int64(nb), c, int64(nb))
		})
	})
}

// RoPEForward rotates x [N, heads, headDim] in place (rotate-half layout).
func (e *Engine) RoPEForward(x, pos backend.Tensor, heads, headDim int, theta float32) {
	e.rope("RoPEForward", x, pos, heads, headDim, theta, 0)
}

// RoPEBackward applies the inverse rotation to dx in place.
func (e *Engine) RoPEBackward(dx, pos backend.Tensor, heads, headDim int, theta float32) {
	e.rope("RoPEBackward", dx, pos, heads, headDim, theta, 1)
}

func (e *Engine) rope(op string, x, pos backend.Tensor, heads, headDim int, theta float32, inverse int) {
	e.run(op, func() error {
		p, err := e.getDT(pos, "pos", backend.I32, -1)
		if err != nil {
			return err
		}
		if heads <= 0 || headDim <= 0 || headDim%2 != 0 {
			return fmt.Errorf("heads %d, headDim %d: need positive, headDim even", heads, headDim)
		}
		if !(theta > 0) {
			return fmt.Errorf("theta %g must be positive", theta)
		}
		xt, err := e.getFloat(x, "x", p.n*heads*headDim)
		if err != nil {
			return err
		}
		total := int64(p.n) * int64(heads) * int64(headDim/2)
		if total == 0 {
			return nil
		}
		return e.exec(func() error {
			return e.launch("rope", dim3{int((total + 255) / 256), 1, 1}, dim3{256, 1, 1}, 0,
				xt.ptr, int(xt.dt), p.ptr, int64(p.n), heads, headDim, theta, inverse)
		})
	})
}

// SwiGLUForward: out = silu(gate)·up.
func (e *Engine) SwiGLUForward(out, gate, up backend.Tensor) {
	e.run("SwiGLUForward", func() error {
		o, err := e.getFloat(out, "out", -1)
		if err != nil {
			return err
		}
		g, err := e.getFloat(gate, "gate", o.n)
		if err != nil {
			return err
		}
		u, err := e.getFloat(up, "up", o.n)
		if err != nil {
			return err
		}
		n := int64(o.n)
		return e.exec(func() error {
			return e.launch("swiglu_fwd", e.gridFor(n), dim3{256, 1, 1}, 0, o.ptr, int(o.dt), g.ptr, int(g.dt), u.ptr, int(u.dt), n)
		})
	})
}

// SwiGLUBackward writes dgate and dup (overwriting).
func (e *Engine) SwiGLUBackward(dgate, dup, dout, gate, up backend.Tensor) {
	e.run("SwiGLUBackward", func() error {
		dy, err := e.getFloat(dout, "dout", -1)
		if err != nil {
			return err
		}
		var ts [4]*Tensor
		for i, x := range []backend.Tensor{dgate, dup, gate, up} {
			if ts[i], err = e.getFloat(x, [...]string{"dgate", "dup", "gate", "up"}[i], dy.n); err != nil {
				return err
			}
		}
		n := int64(dy.n)
		return e.exec(func() error {
			return e.launch("swiglu_bwd", e.gridFor(n), dim3{256, 1, 1}, 0, ts[0].ptr, int(ts[0].dt), ts[1].ptr, int(ts[1].dt),
				dy.ptr, int(dy.dt), ts[2].ptr, int(ts[2].dt), ts[3].ptr, int(ts[3].dt), n)
		})
	})
}
