package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// attnBlock is the number of query rows whose scores are formed at once.
const attnBlock = 64

// attnShape is the geometry of one attention call.
type attnShape struct {
	b, t, h, kvh, d int
	scale           float32
}

// attnArgs derives B and T from lse [B, H, T] and checks that q and out hold
// B·T·H·D elements and k, v B·T·KVH·D (q may be [B,T,H,D], [B,T,H·D] or
// [B·T, H·D]: only the element count is checked).
func attnArgs(c *opCheck, lse backend.Tensor, p backend.AttnParams) (*Tensor, attnShape) {
	c.require(p.Heads > 0 && p.KVHeads > 0 && p.HeadDim > 0 && p.Heads%p.KVHeads == 0,
		"heads %d, kv heads %d, head dim %d: need positive, heads a multiple of kv heads", p.Heads, p.KVHeads, p.HeadDim)
	l := c.float(lse, "lse")
	if l != nil && (len(l.shape) != 3 || l.shape[1] != p.Heads) {
		c.failf("lse %v must be [B, %d, T]", l.shape, p.Heads)
	}
	if !c.ok() {
		return nil, attnShape{}
	}
	s := attnShape{b: l.shape[0], t: l.shape[2], h: p.Heads, kvh: p.KVHeads, d: p.HeadDim, scale: p.Scale}
	if s.scale == 0 {
		s.scale = float32(1 / math.Sqrt(float64(s.d)))
	}
	return l, s
}

// AttentionForward computes causal grouped-query attention: for query row t
// of head h (KV head h/(H/KVH)), out = softmax(scale·q·kᵀ over keys ≤ t)·v,
// and lse[b,h,t] = log Σ_j exp(scale·q·k_j) (natural log, max included).
func (e *Engine) AttentionForward(out, lse, q, k, v backend.Tensor, p backend.AttnParams) {
	c := e.begin("AttentionForward")
	if c == nil {
		return
	}
	l, s := attnArgs(c, lse, p)
	if !c.ok() {
		return
	}
	nq, nk := s.b*s.t*s.h*s.d, s.b*s.t*s.kvh*s.d
	o, qt := c.floatN(out, "out", nq), c.floatN(q, "q", nq)
	kt, vt := c.floatN(k, "k", nk), c.floatN(v, "v", nk)
	if !c.ok() {
		return
	}
	nblk := (s.t + attnBlock - 1) / attnBlock
	e.parallel(s.b*s.h*nblk, attnBlock*s.t*s.d*2, func(lo, hi int) {
		buf := e.floats(attnBlock * s.t)
		w := e.getWork()
		for task := lo; task < hi; task++ {
			bh, blk := task/nblk, task%nblk
			e.attnForwardBlock(s, bh/s.h, bh%s.h, blk*attnBlock, min(s.t, (blk+1)*attnBlock), o, l, qt, kt, vt, buf, w)
		}
		e.work.Put(w)
		e.putFloats(buf)
	})
	o.round(0, o.n)
	l.round(0, l.n)
}

// attnForwardBlock computes query rows [i0, i1) of head h in batch b.
func (e *Engine) attnForwardBlock(s attnShape, b, h, i0, i1 int, o, l, q, k, v *Tensor, buf []float32, w *gemmWork) {
	ldq, ldk := s.h*s.d, s.kvh*s.d
	kvh := h / (s.h / s.kvh)
	qoff := ((b*s.t+i0)*s.h + h) * s.d
	koff := (b*s.t*s.kvh + kvh) * s.d
	rows := i1 - i0
	sc := buf[:rows*i1]
	// S = scale · Q[i0:i1] · K[0:i1]ᵀ
	e.kern.run(gemmArgs{transB: true, m: rows, n: i1, k: s.d, alpha: s.scale,
		a: q.f[qoff:], lda: ldq, b: k.f[koff:], ldb: ldk, c: sc, ldc: i1}, w)
	for r := 0; r < rows; r++ {
		row := sc[r*i1 : (r+1)*i1]
		n := i0 + r + 1
		m := maxf(row[:n])
		expSub(row[:n], m)
		sum := sum64(row[:n])
		inv := float32(1 / sum)
		for j := range row[:n] {
			row[j] *= inv
		}
		clear(row[n:])
		l.f[(b*s.h+h)*s.t+i0+r] = m + float32(math.Log(sum))
	}
	// O[i0:i1] = P · V[0:i1]
	e.kern.run(gemmArgs{m: rows, n: s.d, k: i1, alpha: 1,
		a: sc, lda: i1, b: v.f[koff:], ldb: ldk, c: o.f[qoff:], ldc: ldq}, w)
}

// AttentionBackward writes dq, dk, dv (overwriting) for the causal attention
// of AttentionForward, recomputing the probabilities from the saved lse:
// P = exp(scale·q·kᵀ − lse), dP = dout·vᵀ, dS = P⊙(dP − rowsum(dout⊙out)),
// dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dout. Work is split over
// (batch, KV head) pairs; each sums its query heads and rows in order.
func (e *Engine) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v backend.Tensor, p backend.AttnParams) {
	c := e.begin("AttentionBackward")
	if c == nil {
		return
	}
	l, s := attnArgs(c, lse, p)
	if !c.ok() {
		return
	}
	nq, nk := s.b*s.t*s.h*s.d, s.b*s.t*s.kvh*s.d
	dqt, dy, o, qt := c.floatN(dq, "dq", nq), c.floatN(dout, "dout", nq), c.floatN(out, "out", nq), c.floatN(q, "q", nq)
	dkt, dvt := c.floatN(dk, "dk", nk), c.floatN(dv, "dv", nk)
	kt, vt := c.floatN(k, "k", nk), c.floatN(v, "v", nk)
	if !c.ok() {
		return
	}
	e.parallel(s.b*s.kvh, s.t*s.t*s.d*3*(s.h/s.kvh), func(lo, hi int) {
		pb, db := e.floats(attnBlock*s.t), e.floats(attnBlock*s.t)
		w := e.getWork()
		for task := lo; task < hi; task++ {
			e.attnBackwardGroup(s, task/s.kvh, task%s.kvh, dqt, dkt, dvt, dy, o, l, qt, kt, vt, pb, db, w)
		}
		e.work.Put(w)
		e.putFloats(pb)
		e.putFloats(db)
	})
	dqt.round(0, dqt.n)
	dkt.round(0, dkt.n)
	dvt.round(0, dvt.n)
}

// attnBackwardGroup computes dk, dv of KV head kvh in batch b and dq of the
// query heads that read it.
func (e *Engine) attnBackwardGroup(s attnShape, b, kvh int, dq, dk, dv, dy, o, l, q, k, v *Tensor, pb, db []float32, w *gemmWork) {
	ldq, ldk := s.h*s.d, s.kvh*s.d
	koff := (b*s.t*s.kvh + kvh) * s.d
	for t := 0; t < s.t; t++ {
		clear(dk.f[koff+t*ldk : koff+t*ldk+s.d])
		clear(dv.f[koff+t*ldk : koff+t*ldk+s.d])
	}
	group := s.h / s.kvh
	for h := kvh * group; h < (kvh+1)*group; h++ {
		for i0 := 0; i0 < s.t; i0 += attnBlock {
			i1 := min(s.t, i0+attnBlock)
			rows := i1 - i0
			qoff := ((b*s.t+i0)*s.h + h) * s.d
			pm, dm := pb[:rows*i1], db[:rows*i1]
			e.kern.run(gemmArgs{transB: true, m: rows, n: i1, k: s.d, alpha: s.scale,
				a: q.f[qoff:], lda: ldq, b: k.f[koff:], ldb: ldk, c: pm, ldc: i1}, w)
			e.kern.run(gemmArgs{transB: true, m: rows, n: i1, k: s.d, alpha: 1,
				a: dy.f[qoff:], lda: ldq, b: v.f[koff:], ldb: ldk, c: dm, ldc: i1}, w)
			for r := 0; r < rows; r++ {
				n := i0 + r + 1
				lse := l.f[(b*s.h+h)*s.t+i0+r]
				var dsum float32
				do, oo := dy.f[qoff+r*ldq:qoff+r*ldq+s.d], o.f[qoff+r*ldq:qoff+r*ldq+s.d]
				for j, x := range do {
					dsum += x * oo[j]
				}
				prow, drow := pm[r*i1:(r+1)*i1], dm[r*i1:(r+1)*i1]
				expSub(prow[:n], lse)
				for j, pj := range prow[:n] {
					drow[j] = pj * (drow[j] - dsum)
				}
				clear(prow[n:])
				clear(drow[n:])
			}
			// dq rows = scale · dS · K[0:i1]
			e.kern.run(gemmArgs{m: rows, n: s.d, k: i1, alpha: s.scale,
				a: dm, lda: i1, b: k.f[koff:], ldb: ldk, c: dq.f[qoff:], ldc: ldq}, w)
			// dK[0:i1] += scale · dSᵀ · Q rows
			e.kern.run(gemmArgs{transA: true, m: i1, n: s.d, k: rows, alpha: s.scale, beta: 1,
				a: dm, lda: i1, b: q.f[qoff:], ldb: ldq, c: dk.f[koff:], ldc: ldk}, w)
			// dV[0:i1] += Pᵀ · dout rows
			e.kern.run(gemmArgs{transA: true, m: i1, n: s.d, k: rows, alpha: 1, beta: 1,
				a: pm, lda: i1, b: dy.f[qoff:], ldb: ldq, c: dv.f[koff:], ldc: ldk}, w)
		}
	}
}
