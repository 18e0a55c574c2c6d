package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// pagedShape is the geometry of a paged KV cache.
type pagedShape struct {
	b, blocks, bs, kvh, d, maxBlocks int
}

// pagedArgs validates cache: K and V [NumBlocks, BlockSize, KVH, D],
// BlockTable I32 [B, MaxBlocks], SeqLens I32 [B], and every used block id.
// A sequence with SeqLens[b] = 0 is inactive: no block of it is read.
func pagedArgs(c *opCheck, cache backend.PagedKV) (k, v, table, lens *Tensor, s pagedShape) {
	k, v = c.float(cache.K, "cache K"), c.float(cache.V, "cache V")
	table, lens = c.ints(cache.BlockTable, "block table", -1), c.ints(cache.SeqLens, "seq lens", -1)
	if !c.ok() {
		return
	}
	if len(k.shape) != 4 || k.shape[1] != cache.BlockSize || cache.BlockSize <= 0 {
		c.failf("cache K %v must be [blocks, %d, kv heads, head dim]", k.shape, cache.BlockSize)
		return
	}
	s = pagedShape{b: lens.n, blocks: k.shape[0], bs: cache.BlockSize, kvh: k.shape[2], d: k.shape[3]}
	c.require(v.n == k.n && v.dt == k.dt, "cache V %v does not match cache K %v", v.shape, k.shape)
	if len(table.shape) != 2 || table.shape[0] != s.b {
		c.failf("block table %v must be [%d, max blocks]", table.shape, s.b)
		return
	}
	s.maxBlocks = table.shape[1]
	for b, n := range lens.i {
		if n < 0 || int(n) > s.maxBlocks*s.bs {
			c.failf("seq lens[%d] = %d out of range [0, %d]", b, n, s.maxBlocks*s.bs)
			return
		}
		for j := 0; j < (int(n)+s.bs-1)/s.bs; j++ {
			if id := table.i[b*s.maxBlocks+j]; id < 0 || int(id) >= s.blocks {
				c.failf("block table[%d, %d] = %d out of range [0, %d)", b, j, id, s.blocks)
				return
			}
		}
	}
	return
}

// slot is the element offset of token pos of sequence b in the cache.
func (s pagedShape) slot(table *Tensor, b, pos int) int {
	blk := int(table.i[b*s.maxBlocks+pos/s.bs])
	return (blk*s.bs + pos%s.bs) * s.kvh * s.d
}

// KVAppend writes k, v [B, KVH, D] at position SeqLens[b]−1 of each sequence
// b; sequences with SeqLens[b] = 0 are skipped.
func (e *Engine) KVAppend(cache backend.PagedKV, k, v backend.Tensor) {
	c := e.begin("KVAppend")
	if c == nil {
		return
	}
	kc, vc, table, lens, s := pagedArgs(c, cache)
	if !c.ok() {
		return
	}
	row := s.kvh * s.d
	kt, vt := c.floatN(k, "k", s.b*row), c.floatN(v, "v", s.b*row)
	if !c.ok() {
		return
	}
	for b := 0; b < s.b; b++ {
		n := int(lens.i[b])
		if n == 0 {
			continue
		}
		off := s.slot(table, b, n-1)
		copy(kc.f[off:off+row], kt.f[b*row:(b+1)*row])
		copy(vc.f[off:off+row], vt.f[b*row:(b+1)*row])
		kc.round(off, off+row)
		vc.round(off, off+row)
	}
}

// DecodeAttention computes, for q [B, H, D] (one token per sequence),
// out[b,h] = softmax(scale·q·kᵀ)·v over the SeqLens[b] cached tokens of
// sequence b (KV head h/(H/KVH)); an inactive sequence (length 0) gets zeros.
func (e *Engine) DecodeAttention(out, q backend.Tensor, cache backend.PagedKV, p backend.AttnParams) {
	c := e.begin("DecodeAttention")
	if c == nil {
		return
	}
	kc, vc, table, lens, s := pagedArgs(c, cache)
	if !c.ok() {
		return
	}
	c.require(p.Heads > 0 && p.KVHeads == s.kvh && p.HeadDim == s.d && p.Heads%p.KVHeads == 0,
		"heads %d, kv heads %d, head dim %d do not match cache K %v", p.Heads, p.KVHeads, p.HeadDim, kc.shape)
	if !c.ok() {
		return
	}
	h, d := p.Heads, p.HeadDim
	scale := p.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(d)))
	}
	o, qt := c.floatN(out, "out", s.b*h*d), c.floatN(q, "q", s.b*h*d)
	if !c.ok() {
		return
	}
	group := h / s.kvh
	e.parallel(s.b*h, s.maxBlocks*s.bs*d*2, func(lo, hi int) {
		sc := make([]float32, s.maxBlocks*s.bs)
		for task := lo; task < hi; task++ {
			b, hh := task/h, task%h
			n := int(lens.i[b])
			dst := o.f[task*d : (task+1)*d]
			clear(dst)
			if n == 0 {
				continue
			}
			qv := qt.f[task*d : (task+1)*d]
			kv := (hh / group) * d
			m := float32(math.Inf(-1))
			j := 0
			// Four keys at a time: four independent dot-product chains (each
			// in the same order as one at a time) hide the add latency. The
			// conversions keep each product rounded (no fused multiply-add
			// on any GOAMD64 level or GOARCH), so results do not depend on
			// the build.
			for ; j+4 <= n; j += 4 {
				k0, k1 := kc.f[s.slot(table, b, j)+kv:][:len(qv)], kc.f[s.slot(table, b, j+1)+kv:][:len(qv)]
				k2, k3 := kc.f[s.slot(table, b, j+2)+kv:][:len(qv)], kc.f[s.slot(table, b, j+3)+kv:][:len(qv)]
				var d0, d1, d2, d3 float32
				for i, x := range qv {
					d0 += float32(x * k0[i])
					d1 += float32(x * k1[i])
					d2 += float32(x * k2[i])
					d3 += float32(x * k3[i])
				}
				sc[j], sc[j+1], sc[j+2], sc[j+3] = d0*scale, d1*scale, d2*scale, d3*scale
				m = max(m, sc[j], sc[j+1], sc[j+2], sc[j+3])
			}
			for ; j < n; j++ {
				kr := kc.f[s.slot(table, b, j)+kv:][:len(qv)]
				var dot float32
				for i, x := range qv {
					dot += float32(x * kr[i])
				}
				sc[j] = dot * scale
				m = max(m, sc[j])
			}
			expSub(sc[:n], m)
			inv := float32(1 / sum64(sc[:n]))
			for j := 0; j < n; j++ {
				off := s.slot(table, b, j) + kv
				w := sc[j] * inv
				axpy(dst, vc.f[off:off+d], w)
			}
		}
		o.round(lo*d, hi*d)
	})
}
