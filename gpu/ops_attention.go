//go:build cuda || cudaemu

package gpu

import (
	"fmt"
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// attnShape is the geometry of one attention call.
type attnShape struct {
	b, t, h, kvh, d int
	scale           float32
}

// attnArgs derives B and T from lse [B, H, T] (fp32) and checks the heads.
func (e *Engine) attnArgs(lse backend.Tensor, p backend.AttnParams) (*Tensor, attnShape, error) {
	var s attnShape
	if !(p.Heads > 0 && p.KVHeads > 0 && p.HeadDim > 0 && p.Heads%p.KVHeads == 0) {
		return nil, s, fmt.Errorf("heads %d, kv heads %d, head dim %d: need positive, heads a multiple of kv heads",
			p.Heads, p.KVHeads, p.HeadDim)
	}
	l, err := e.getDT(lse, "lse", backend.F32, -1)
	if err != nil {
		return nil, s, err
	}
	if len(l.shape) != 3 || l.shape[1] != p.Heads {
		return nil, s, fmt.Errorf("lse %v must be [B, %d, T]", l.shape, p.Heads)
	}
	s = attnShape{b: l.shape[0], t: l.shape[2], h: p.Heads, kvh: p.KVHeads, d: p.HeadDim, scale: p.Scale}
	if s.scale == 0 {
		s.scale = float32(1 / math.Sqrt(float64(s.d)))
	}
	if s.d > 256 {
		return nil, s, fmt.Errorf("head dim %d: the CUDA kernels support up to 256", s.d)
	}
	return l, s, nil
}

// qkv checks q (and others of its size) and k, v; q, k, v share a dtype.
func (e *Engine) qkv(s attnShape, q, k, v backend.Tensor) (qt, kt, vt *Tensor, err error) {
	nq, nk := s.b*s.t*s.h*s.d, s.b*s.t*s.kvh*s.d
	if qt, err = e.getFloat(q, "q", nq); err != nil {
		return
	}
	if kt, err = e.getDT(k, "k", qt.dt, nk); err != nil {
		return
	}
	vt, err = e.getDT(v, "v", qt.dt, nk)
	return
}

// tensorCore reports whether the bf16 tensor-core kernels take this call.
func tensorCore(s attnShape, dts ...backend.DType) bool {
	for _, dt := range dts {
		if dt != backend.BF16 {
			return false
		}
	}
	return s.d == 64 || s.d == 128
}

// f32 path launch geometry (see attention.cu).
const (
	attnRows = 8  // AW
	attnTile = 32 // AKT
)

// AttentionForward computes causal GQA attention and saves lse [B, H, T].
// bf16 q, k, v with head dim 64 or 128 run on tensor cores (mma.sync);
// everything else on the fp32 kernel.
func (e *Engine) AttentionForward(out, lse, q, k, v backend.Tensor, p backend.AttnParams) {
	e.run("AttentionForward", func() error {
		l, s, err := e.attnArgs(lse, p)
		if err != nil {
			return err
		}
		qt, kt, vt, err := e.qkv(s, q, k, v)
		if err != nil {
			return err
		}
		o, err := e.getFloat(out, "out", qt.n)
		if err != nil || s.b*s.t == 0 {
			return err
		}
		return e.exec(func() error {
			if tensorCore(s, qt.dt) {
				name := fmt.Sprintf("attn_fwd_bf16_d%d", s.d)
				return e.launch(name, dim3{(s.t + 63) / 64, s.b * s.h, 1}, dim3{128, 1, 1}, 2*64*(s.d+8)*2,
					o.ptr, int(o.dt), l.ptr, qt.ptr, kt.ptr, vt.ptr, s.b, s.t, s.h, s.kvh, s.scale)
			}
			smem := (2*attnTile*(s.d+1) + attnRows*s.d) * 4
			return e.launch("attn_fwd_f32", dim3{(s.t + attnRows - 1) / attnRows, s.b * s.h, 1}, dim3{attnRows * 32, 1, 1}, smem,
				o.ptr, int(o.dt), l.ptr, qt.ptr, kt.ptr, vt.ptr, int(qt.dt), s.b, s.t, s.h, s.kvh, s.d, s.scale)
		})
	})
}

// AttentionBackward writes dq, dk, dv (overwriting), recomputing the
// probabilities from lse: a dvec = rowsum(dout⊙out) pass, then a dq kernel
// per query tile and a dk/dv kernel per key tile (no atomics).
func (e *Engine) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v backend.Tensor, p backend.AttnParams) {
	e.run("AttentionBackward", func() error {
		l, s, err := e.attnArgs(lse, p)
		if err != nil {
			return err
		}
		qt, kt, vt, err := e.qkv(s, q, k, v)
		if err != nil {
			return err
		}
		var dqt, dkt, dvt, dy, o *Tensor
		if dy, err = e.getFloat(dout, "dout", qt.n); err != nil {
			return err
		}
		if o, err = e.getFloat(out, "out", qt.n); err != nil {
			return err
		}
		if dqt, err = e.getFloat(dq, "dq", qt.n); err != nil {
			return err
		}
		if dkt, err = e.getFloat(dk, "dk", kt.n); err != nil {
			return err
		}
		if dvt, err = e.getDT(dv, "dv", dkt.dt, kt.n); err != nil {
			return err
		}
		if s.b*s.t == 0 {
			return nil
		}
		return e.exec(func() error {
			mark := e.scratch.mark()
			defer e.scratch.release(mark)
			rows := s.b * s.t * s.h
			dvec, err := e.scratchAlloc(int64(rows) * 4)
			if err != nil {
				return err
			}
			if err := e.launch("attn_bwd_dvec", dim3{(rows + 7) / 8, 1, 1}, dim3{256, 1, 1}, 0,
				dvec, dy.ptr, int(dy.dt), o.ptr, int(o.dt), s.b, s.t, s.h, s.d); err != nil {
				return err
			}
			if tensorCore(s, qt.dt, dy.dt) {
				qtiles := (s.t + 63) / 64
				if err := e.launch(fmt.Sprintf("attn_bwd_dq_bf16_d%d", s.d), dim3{qtiles, s.b * s.h, 1}, dim3{128, 1, 1},
					2*64*(s.d+8)*2, dqt.ptr, int(dqt.dt), dy.ptr, qt.ptr, kt.ptr, vt.ptr, l.ptr, dvec,
					s.b, s.t, s.h, s.kvh, s.scale); err != nil {
					return err
				}
				return e.launch(fmt.Sprintf("attn_bwd_dkv_bf16_d%d", s.d), dim3{qtiles, s.b * s.kvh, 1}, dim3{128, 1, 1},
					4*64*(s.d+8)*2+2*64*4, dkt.ptr, dvt.ptr, int(dkt.dt), dy.ptr, qt.ptr, kt.ptr, vt.ptr, l.ptr, dvec,
					s.b, s.t, s.h, s.kvh, s.scale)
			}
			tiles := (s.t + attnRows - 1) / attnRows
			smem := (2*attnTile*(s.d+1) + 2*attnRows*s.d) * 4
			if err := e.launch("attn_bwd_dq_f32", dim3{tiles, s.b * s.h, 1}, dim3{attnRows * 32, 1, 1}, smem,
				dqt.ptr, int(dqt.dt), dy.ptr, int(dy.dt), qt.ptr, kt.ptr, vt.ptr, int(qt.dt), l.ptr, dvec,
				s.b, s.t, s.h, s.kvh, s.d, s.scale); err != nil {
				return err
			}
			smem = (2*attnTile*(s.d+1) + 2*attnTile + 2*attnRows*s.d) * 4
			return e.launch("attn_bwd_dkv_f32", dim3{tiles, s.b * s.kvh, 1}, dim3{attnRows * 32, 1, 1}, smem,
				dkt.ptr, dvt.ptr, int(dkt.dt), dy.ptr, int(dy.dt), qt.ptr, kt.ptr, vt.ptr, int(qt.dt), l.ptr, dvec,
				s.b, s.t, s.h, s.kvh, s.d, s.scale)
		})
	})
}

// pagedShape is the geometry of a paged KV cache.
type pagedShape struct {
	b, blocks, bs, kvh, d, maxBlocks int
}

// pagedArgs validates the cache: K, V [NumBlocks, BlockSize, KVH, D] of one
// dtype, BlockTable I32 [B, MaxBlocks], SeqLens I32 [B]. Block ids and
// lengths live on the device and are not checked here: the kernels skip a
// block id outside [0, NumBlocks) and clamp lengths to MaxBlocks·BlockSize.
func (e *Engine) pagedArgs(c backend.PagedKV) (k, v, table, lens *Tensor, s pagedShape, err error) {
	if k, err = e.getFloat(c.K, "cache K", -1); err != nil {
		return
	}
	if v, err = e.getDT(c.V, "cache V", k.dt, k.n); err != nil {
		return
	}
	if table, err = e.getDT(c.BlockTable, "block table", backend.I32, -1); err != nil {
		return
	}
	if lens, err = e.getDT(c.SeqLens, "seq lens", backend.I32, -1); err != nil {
		return
	}
	if len(k.shape) != 4 || c.BlockSize <= 0 || k.shape[1] != c.BlockSize {
		err = fmt.Errorf("cache K %v must be [blocks, %d, kv heads, head dim]", k.shape, c.BlockSize)
		return
	}
	s = pagedShape{b: lens.n, blocks: k.shape[0], bs: c.BlockSize, kvh: k.shape[2], d: k.shape[3]}
	if len(table.shape) != 2 || table.shape[0] != s.b {
		err = fmt.Errorf("block table %v must be [%d, max blocks]", table.shape, s.b)
		return
	}
	s.maxBlocks = table.shape[1]
	return
}

// KVAppend writes k, v [B, KVH, D] at position SeqLens[b]−1 of each
// sequence (skipped when SeqLens[b] = 0).
func (e *Engine) KVAppend(cache backend.PagedKV, k, v backend.Tensor) {
	e.run("KVAppend", func() error {
		kc, vc, table, lens, s, err := e.pagedArgs(cache)
		if err != nil {
			return err
		}
		kt, err := e.getFloat(k, "k", s.b*s.kvh*s.d)
		if err != nil {
			return err
		}
		vt, err := e.getDT(v, "v", kt.dt, kt.n)
		if err != nil || s.b == 0 {
			return err
		}
		return e.exec(func() error {
			return e.launch("kv_append", dim3{s.b, 1, 1}, dim3{256, 1, 1}, 0, kc.ptr, vc.ptr, int(kc.dt),
				kt.ptr, vt.ptr, int(kt.dt), table.ptr, lens.ptr, s.b, s.kvh, s.d, s.bs, s.maxBlocks, s.blocks)
		})
	})
}

// DecodeAttention: q [B, H, D], one token per sequence, attends to the
// SeqLens[b] cached tokens; an inactive sequence gets zeros.
func (e *Engine) DecodeAttention(out, q backend.Tensor, cache backend.PagedKV, p backend.AttnParams) {
	e.run("DecodeAttention", func() error {
		kc, vc, table, lens, s, err := e.pagedArgs(cache)
		if err != nil {
			return err
		}
		if !(p.Heads > 0 && p.KVHeads > 0 && p.Heads%p.KVHeads == 0) || p.KVHeads != s.kvh || p.HeadDim != s.d {
			return fmt.Errorf("heads %d, kv heads %d, head dim %d do not fit the cache (kv heads %d, head dim %d)",
				p.Heads, p.KVHeads, p.HeadDim, s.kvh, s.d)
		}
		if s.d > 256 {
			return fmt.Errorf("head dim %d: the CUDA kernel supports up to 256", s.d)
		}
		qt, err := e.getFloat(q, "q", s.b*p.Heads*s.d)
		if err != nil {
			return err
		}
		o, err := e.getFloat(out, "out", qt.n)
		if err != nil || s.b == 0 {
			return err
		}
		scale := p.Scale
		if scale == 0 {
			scale = float32(1 / math.Sqrt(float64(s.d)))
		}
		return e.exec(func() error {
			return e.launch("decode_attn", dim3{p.Heads, s.b, 1}, dim3{128, 1, 1}, 0, o.ptr, int(o.dt), qt.ptr, int(qt.dt),
				kc.ptr, vc.ptr, int(kc.dt), table.ptr, lens.ptr, s.b, p.Heads, s.kvh, s.d, s.bs, s.maxBlocks, s.blocks, scale)
		})
	})
}
