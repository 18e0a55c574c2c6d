package backendtest

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// attnCase is an attention geometry.
type attnCase struct{ b, t, h, kvh, d int }

// attentionRows covers causal GQA attention forward/backward and the paged
// decode path.
func attentionRows() []row {
	var rs []row
	for _, dt := range dtypes() {
		dt := dt
		rs = append(rs, row{name: "attention_fwd_" + dt.dt.String(), run: func(h *harness) {
			runAttnForward(h, attnCase{b: 2, t: 70, h: 4, kvh: 2, d: 16}, 0, dt)
		}})
	}
	rs = append(rs,
		row{name: "attention_fwd_scale_mha", run: func(h *harness) {
			runAttnForward(h, attnCase{b: 3, t: 9, h: 2, kvh: 2, d: 8}, 0.3, dtypeTol{backend.F32, tolF32})
		}},
		row{name: "attention_bwd", run: func(h *harness) {
			runAttnBackward(h, attnCase{b: 2, t: 67, h: 4, kvh: 2, d: 8})
		}},
		row{name: "attention_bwd_small", run: func(h *harness) {
			runAttnBackward(h, attnCase{b: 1, t: 5, h: 4, kvh: 1, d: 4})
		}},
		row{name: "kvappend_decode", run: func(h *harness) { runDecode(h, 8, dtypeTol{backend.F32, tolF32}) }},
	)
	return rs
}

// runAttnForward checks out and lse against refAttention.
func runAttnForward(h *harness, c attnCase, scale float32, dt dtypeTol) {
	nq, nk := c.b*c.t*c.h*c.d, c.b*c.t*c.kvh*c.d
	q, qv := h.input(dt.dt, h.normal(nq, 1), c.b, c.t, c.h, c.d)
	k, kv := h.input(dt.dt, h.normal(nk, 1), c.b, c.t, c.kvh, c.d)
	v, vv := h.input(dt.dt, h.normal(nk, 1), c.b, c.t, c.kvh, c.d)
	out, lse := h.output(dt.dt, c.b, c.t, c.h, c.d), h.output(backend.F32, c.b, c.h, c.t)
	p := backend.AttnParams{Heads: c.h, KVHeads: c.kvh, HeadDim: c.d, Scale: scale}
	h.e.AttentionForward(out, lse, q, k, v, p)
	s := attnScale(scale, c.d)
	ro, rl := refAttention(qv, kv, vv, c.b, c.t, c.h, c.kvh, c.d, s)
	h.check("out", h.get(out), ro, dt.tol)
	h.check("lse", h.get(lse), rl, max(dt.tol, tolF32))
}

// attnScale is the effective scale.
func attnScale(scale float32, d int) float64 {
	if scale == 0 {
		return float64(float32(1 / math.Sqrt(float64(d))))
	}
	return float64(scale)
}

// runAttnBackward runs the engine's forward then backward and checks dq, dk,
// dv against refAttentionBackward and finite differences.
func runAttnBackward(h *harness, c attnCase) {
	runAttnBackwardDT(h, c, dtypeTol{backend.F32, tolAcc})
}

// runAttnBackwardDT is runAttnBackward with q, k, v, dout and out of dtype
// dt.dt (gradients fp32), checked with dt.tol; finite differences for fp32.
func runAttnBackwardDT(h *harness, c attnCase, dt dtypeTol) {
	nq, nk := c.b*c.t*c.h*c.d, c.b*c.t*c.kvh*c.d
	q, qv := h.input(dt.dt, h.normal(nq, 1), c.b, c.t, c.h, c.d)
	k, kv := h.input(dt.dt, h.normal(nk, 1), c.b, c.t, c.kvh, c.d)
	v, vv := h.input(dt.dt, h.normal(nk, 1), c.b, c.t, c.kvh, c.d)
	dy, dyv := h.input(dt.dt, h.normal(nq, 1), c.b, c.t, c.h, c.d)
	out, lse := h.output(dt.dt, c.b, c.t, c.h, c.d), h.output(backend.F32, c.b, c.h, c.t)
	p := backend.AttnParams{Heads: c.h, KVHeads: c.kvh, HeadDim: c.d}
	h.e.AttentionForward(out, lse, q, k, v, p)
	dq, dk, dv := h.output(backend.F32, c.b, c.t, c.h, c.d), h.output(backend.F32, c.b, c.t, c.kvh, c.d), h.output(backend.F32, c.b, c.t, c.kvh, c.d)
	h.e.AttentionBackward(dq, dk, dv, dy, out, lse, q, k, v, p)
	s := attnScale(0, c.d)
	rq, rk, rv := refAttentionBackward(dyv, qv, kv, vv, c.b, c.t, c.h, c.kvh, c.d, s)
	gq, gk, gv := h.get(dq), h.get(dk), h.get(dv)
	h.check("dq", gq, rq, dt.tol)
	h.check("dk", gk, rk, dt.tol)
	h.check("dv", gv, rv, dt.tol)
	if dt.dt != backend.F32 {
		return
	}
	loss := func() float64 {
		o, _ := refAttention(qv, kv, vv, c.b, c.t, c.h, c.kvh, c.d, s)
		return dot(dyv, o)
	}
	h.fdCheck("dq", qv, gq, rq, loss, 30)
	h.fdCheck("dk", kv, gk, rk, loss, 30)
	h.fdCheck("dv", vv, gv, rv, loss, 30)
}

// runDecode fills a paged cache token by token with KVAppend (sequences of
// different lengths, one of them empty, blocks in shuffled order) and checks
// the cache contents and DecodeAttention against the last row of full causal
// attention. The cache has dtype dt.dt and head dim d; its values are
// those of the fp32 tokens rounded to dt.dt (the reference uses them).
func runDecode(h *harness, d int, dt dtypeTol) {
	const h4, kvh, bs = 4, 2, 4
	lens := []int{7, 12, 0}
	nb := len(lens)
	maxLen, maxBlocks := 12, 4
	blocks := nb*maxBlocks + 2
	perm := h.rng.Perm(blocks)
	table := make([]int32, nb*maxBlocks)
	for i := range table {
		table[i] = int32(perm[i])
	}
	row := kvh * d
	kc, vc := h.output(dt.dt, blocks, bs, kvh, d), h.output(dt.dt, blocks, bs, kvh, d)
	bt := h.ints(table, nb, maxBlocks)
	sl := h.ints(make([]int32, nb), nb)
	cache := backend.PagedKV{K: kc, V: vc, BlockTable: bt, SeqLens: sl, BlockSize: bs}
	full := make([][2][]float64, nb) // per sequence: k and v [len, kvh, d]
	for b := range full {
		full[b] = [2][]float64{f64(h.normal(lens[b]*row, 1)), f64(h.normal(lens[b]*row, 1))}
		if dt.dt != backend.F32 && lens[b] > 0 { // the values as the cache stores them
			_, full[b][0] = h.input(dt.dt, f32(full[b][0]), lens[b]*row)
			_, full[b][1] = h.input(dt.dt, f32(full[b][1]), lens[b]*row)
		}
	}
	kt, vt := h.output(backend.F32, nb, kvh, d), h.output(backend.F32, nb, kvh, d)
	cur := make([]int32, nb)
	for step := 0; step < maxLen; step++ {
		kstep, vstep := make([]float64, nb*row), make([]float64, nb*row)
		for b := range lens {
			cur[b] = 0
			if step < lens[b] {
				cur[b] = int32(step + 1)
				copy(kstep[b*row:], full[b][0][step*row:(step+1)*row])
				copy(vstep[b*row:], full[b][1][step*row:(step+1)*row])
			}
		}
		h.e.UploadI32(sl, cur)
		h.e.Upload(kt, f32(kstep))
		h.e.Upload(vt, f32(vstep))
		h.e.KVAppend(cache, kt, vt)
	}
	final := make([]int32, nb)
	for b, l := range lens {
		final[b] = int32(l)
	}
	h.e.UploadI32(sl, final)
	gk, gv := h.get(kc), h.get(vc)
	for b, l := range lens {
		for j := 0; j < l; j++ {
			off := (int(table[b*maxBlocks+j/bs])*bs + j%bs) * row
			h.check("cache K", gk[off:off+row], full[b][0][j*row:(j+1)*row], 0)
			h.check("cache V", gv[off:off+row], full[b][1][j*row:(j+1)*row], 0)
		}
	}
	q, qv := h.input(backend.F32, h.normal(nb*h4*d, 1), nb, h4, d)
	out := h.output(backend.F32, nb, h4, d)
	h.e.DecodeAttention(out, q, cache, backend.AttnParams{Heads: h4, KVHeads: kvh, HeadDim: d})
	got := h.get(out)
	s := attnScale(0, d)
	for b, l := range lens {
		want := make([]float64, h4*d)
		if l > 0 {
			// Full causal attention over the sequence, with q as its last row.
			fq := make([]float64, l*h4*d)
			copy(fq[(l-1)*h4*d:], qv[b*h4*d:(b+1)*h4*d])
			o, _ := refAttention(fq, full[b][0], full[b][1], 1, l, h4, kvh, d, s)
			want = o[(l-1)*h4*d:]
		}
		h.check("decode out", got[b*h4*d:(b+1)*h4*d], want, dt.tol)
	}
}
