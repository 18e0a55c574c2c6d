package cpu

import "github.com/sirl-dev/sirl/backend"

// embeddingArgs validates table [V, d], ids I32 [N] and rows [N, d].
func embeddingArgs(c *opCheck, rows, table, ids backend.Tensor) (r, tab, id *Tensor, n, d int) {
	tab = c.float(table, "table")
	if tab != nil && len(tab.shape) != 2 {
		c.failf("table %v must be [V, d]", tab.shape)
	}
	if !c.ok() {
		return nil, nil, nil, 0, 0
	}
	v, d := tab.shape[0], tab.shape[1]
	id = c.ints(ids, "ids", -1)
	if !c.ok() {
		return nil, nil, nil, 0, 0
	}
	n = id.n
	r = c.floatN(rows, "rows", n*d)
	if !c.ok() {
		return nil, nil, nil, 0, 0
	}
	for i, x := range id.i {
		if x < 0 || int(x) >= v {
			c.failf("ids[%d] = %d out of range [0, %d)", i, x, v)
			break
		}
	}
	return r, tab, id, n, d
}

// EmbeddingForward gathers out[i] = table[ids[i]] (table [V, d], ids I32 [N],
// out [N, d]). An id out of range sets the sticky error.
func (e *Engine) EmbeddingForward(out, table, ids backend.Tensor) {
	c := e.begin("EmbeddingForward")
	if c == nil {
		return
	}
	o, tab, id, n, d := embeddingArgs(c, out, table, ids)
	if !c.ok() {
		return
	}
	e.parallel(n, d, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(id.i[i])
			copy(o.f[i*d:(i+1)*d], tab.f[r*d:(r+1)*d])
		}
		o.round(lo*d, hi*d)
	})
}

// EmbeddingBackward scatter-adds dtable[ids[i]] += dout[i]. Columns of the
// table are split over goroutines; each adds the rows in token order, so the
// sum order is fixed.
func (e *Engine) EmbeddingBackward(dtable, dout, ids backend.Tensor) {
	c := e.begin("EmbeddingBackward")
	if c == nil {
		return
	}
	dy, tab, id, n, d := embeddingArgs(c, dout, dtable, ids)
	if !c.ok() {
		return
	}
	e.parallel(d, n, func(lo, hi int) {
		for i := 0; i < n; i++ {
			r := int(id.i[i])
			dst := tab.f[r*d+lo : r*d+hi]
			src := dy.f[i*d+lo : i*d+hi]
			for j, v := range src {
				dst[j] += v
			}
		}
		if tab.dt == backend.BF16 {
			for i := 0; i < n; i++ {
				r := int(id.i[i])
				tab.round(r*d+lo, r*d+hi)
			}
		}
	})
}
