package model

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// stepBufs are the activations of one decode step over n sequences; the
// step-by-step prefill reuses them while the number of sequences holds.
type stepBufs struct {
	n                   int
	ids, pos            backend.Tensor // I32 [n]
	x, ln, rstd, tmp    backend.Tensor // [n, d], [n, d], [n], [n, d]
	q, k, v, att        backend.Tensor // [n, H·hd], [n, KVH·hd] ×2, [n, H·hd]
	gate, up, h, logits backend.Tensor // [n, FFN] ×3, [n, V]
}

func (m *Model) newStepBufs(n int) *stepBufs {
	c := m.Cfg
	qd, kvd := c.Heads*c.HeadDim(), c.KVHeads*c.HeadDim()
	i32 := func() backend.Tensor { return m.B.Alloc(backend.Activations, backend.I32, n) }
	return &stepBufs{n: n, ids: i32(), pos: i32(),
		x: m.act(n, c.Dim), ln: m.act(n, c.Dim), rstd: m.act(n), tmp: m.act(n, c.Dim),
		q: m.act(n, qd), k: m.act(n, kvd), v: m.act(n, kvd), att: m.act(n, qd),
		gate: m.act(n, c.FFN), up: m.act(n, c.FFN), h: m.act(n, c.FFN), logits: m.act(n, c.Vocab)}
}

// Step feeds one token per listed sequence at its next position (position
// Len(s)), appends its keys and values to the cache (copying a shared last
// block first) and returns the next-token logits [len(seqs), Vocab] from the
// activations pool, valid until the next ResetPool(backend.Activations).
// Running out of blocks is an error that names the numbers, and leaves the
// cache unchanged.
func (m *Model) Step(c *KVCache, seqs []SeqID, tokens []int32) (backend.Tensor, error) {
	if c == nil || c.m != m {
		return nil, fmt.Errorf("model step: cache belongs to another model")
	}
	if len(seqs) == 0 || len(seqs) != len(tokens) {
		return nil, fmt.Errorf("model step: %d sequences and %d tokens", len(seqs), len(tokens))
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, fmt.Errorf("model step: %w", err)
	}
	ones := make([]int, len(seqs))
	for i := range ones {
		ones[i] = 1
	}
	sts, err := c.lookup(seqs, ones)
	if err != nil {
		return nil, err
	}
	if err := c.reserve(sts, ones); err != nil {
		return nil, err
	}
	for _, st := range sts {
		st.n++
	}
	logits := m.decode(c, sts, tokens, m.newStepBufs(len(seqs)))
	if err := m.B.Err(); err != nil {
		return nil, fmt.Errorf("model step: %w", err)
	}
	return logits, nil
}

// decode runs one token per sequence through the model; each sts[i].n
// already counts the new token, and its blocks are reserved.
func (m *Model) decode(c *KVCache, sts []*seqState, tokens []int32, s *stepBufs) backend.Tensor {
	cfg, b := m.Cfg, m.B
	n, hd, H, KVH := len(sts), cfg.HeadDim(), cfg.Heads, cfg.KVHeads
	ap := backend.AttnParams{Heads: H, KVHeads: KVH, HeadDim: hd}

	c.posBuf = grow(c.posBuf, n)
	for i, st := range sts {
		c.posBuf[i] = int32(st.n - 1)
	}
	b.UploadI32(s.ids, tokens)
	b.UploadI32(s.pos, c.posBuf)
	pk := c.paged(sts)

	b.EmbeddingForward(s.x, m.embed.W, s.ids)
	for l := range m.layers {
		L := &m.layers[l]
		b.RMSNormForward(s.ln, s.rstd, s.x, L.attnNorm.W, cfg.NormEps)
		m.linear(s.q, s.ln, L.q, L.qb)
		m.linear(s.k, s.ln, L.k, L.kb)
		m.linear(s.v, s.ln, L.v, L.vb)
		b.RoPEForward(s.q, s.pos, H, hd, cfg.RopeTheta)
		b.RoPEForward(s.k, s.pos, KVH, hd, cfg.RopeTheta)
		pk.K, pk.V = c.K[l], c.V[l]
		b.KVAppend(pk, s.k, s.v)
		b.DecodeAttention(s.att, s.q, pk, ap)
		m.linear(s.tmp, s.att, L.o, nil)
		b.Add(s.x, s.x, s.tmp)

		b.RMSNormForward(s.ln, s.rstd, s.x, L.mlpNorm.W, cfg.NormEps)
		m.linear(s.gate, s.ln, L.gate, nil)
		m.linear(s.up, s.ln, L.up, nil)
		b.SwiGLUForward(s.h, s.gate, s.up)
		m.linear(s.tmp, s.h, L.down, nil)
		b.Add(s.x, s.x, s.tmp)
	}
	b.RMSNormForward(s.ln, s.rstd, s.x, m.norm.W, cfg.NormEps)
	b.MatMul(s.logits, s.ln, m.Head(), backend.MatMulParams{TransB: true, Alpha: 1})
	return s.logits
}

// Prefill feeds a whole prompt to each listed sequence (prompts[i], at least
// one token, continues sequence seqs[i] from its current length) and returns
// the logits after each prompt's last token, [len(seqs), Vocab] in the
// activations pool. When every sequence is empty it runs one batched causal
// forward and writes the keys and values into the cache; otherwise it steps
// position by position. Both give the logits Step would, within 1e-5.
func (m *Model) Prefill(c *KVCache, seqs []SeqID, prompts [][]int32) (backend.Tensor, error) {
	if c == nil || c.m != m {
		return nil, fmt.Errorf("model prefill: cache belongs to another model")
	}
	if len(seqs) == 0 || len(seqs) != len(prompts) {
		return nil, fmt.Errorf("model prefill: %d sequences and %d prompts", len(seqs), len(prompts))
	}
	extra := make([]int, len(seqs))
	empty := true
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("model prefill: prompt %d is empty", i)
		}
		if err := m.checkTokens(p); err != nil {
			return nil, fmt.Errorf("model prefill: prompt %d: %w", i, err)
		}
		extra[i] = len(p)
		empty = empty && c.Len(seqs[i]) == 0
	}
	sts, err := c.lookup(seqs, extra)
	if err != nil {
		return nil, err
	}
	if err := c.reserve(sts, extra); err != nil {
		return nil, err
	}
	var logits backend.Tensor
	if empty {
		logits = m.prefillBatched(c, sts, prompts)
	} else {
		logits = m.prefillSteps(c, sts, prompts)
	}
	if err := m.B.Err(); err != nil {
		return nil, fmt.Errorf("model prefill: %w", err)
	}
	return logits, nil
}

// prefillBatched runs empty sequences' prompts as one right-padded batch,
// reusing one set of layer activations, and copies each layer's keys and
// values (after RoPE) into the reserved blocks.
func (m *Model) prefillBatched(c *KVCache, sts []*seqState, prompts [][]int32) backend.Tensor {
	cfg, b := m.Cfg, m.B
	n, d, kvd := len(sts), cfg.Dim, cfg.KVHeads*cfg.HeadDim()
	T := 0
	for _, p := range prompts {
		T = max(T, len(p))
	}
	N := n * T
	m.idsBuf, m.posBuf = grow(m.idsBuf, N), grow(m.posBuf, N)
	clear(m.idsBuf)
	for i, p := range prompts {
		copy(m.idsBuf[i*T:], p)
	}
	for i := range m.posBuf {
		m.posBuf[i] = int32(i % T)
	}
	ids, pos := m.actI32(m.idsBuf), m.actI32(m.posBuf)

	x, out := m.act(N, d), m.act(N, d)
	b.EmbeddingForward(x, m.embed.W, ids)
	s := m.newLayerActs(n, T)
	for l := range m.layers {
		m.layerForward(&m.layers[l], &s, x, out, pos)
		for i, st := range sts {
			for j, blk := range st.blocks {
				cnt := min(c.blockSize, len(prompts[i])-j*c.blockSize)
				src := (i*T + j*c.blockSize) * kvd
				b.CopyRange(c.K[l], int(blk)*c.blockElems, s.k, src, cnt*kvd)
				b.CopyRange(c.V[l], int(blk)*c.blockElems, s.v, src, cnt*kvd)
			}
		}
		x, out = out, x
	}
	last := m.act(n, d)
	for i, p := range prompts {
		sts[i].n = len(p)
		b.CopyRange(last, i*d, x, (i*T+len(p)-1)*d, d)
	}
	hid, rstd, logits := m.act(n, d), m.act(n), m.act(n, cfg.Vocab)
	b.RMSNormForward(hid, rstd, last, m.norm.W, cfg.NormEps)
	b.MatMul(logits, hid, m.Head(), backend.MatMulParams{TransB: true, Alpha: 1})
	return logits
}

// prefillSteps feeds the prompts one position at a time (blocks already
// reserved), keeping the logits after each prompt's last token.
func (m *Model) prefillSteps(c *KVCache, sts []*seqState, prompts [][]int32) backend.Tensor {
	V := m.Cfg.Vocab
	out := m.act(len(sts), V)
	var bufs *stepBufs
	var act []*seqState
	var toks []int32
	var rows []int
	for t := 0; ; t++ {
		act, toks, rows = act[:0], toks[:0], rows[:0]
		for i, p := range prompts {
			if t < len(p) {
				sts[i].n++
				act, toks, rows = append(act, sts[i]), append(toks, p[t]), append(rows, i)
			}
		}
		if len(act) == 0 {
			return out
		}
		if bufs == nil || bufs.n != len(act) {
			bufs = m.newStepBufs(len(act))
		}
		logits := m.decode(c, act, toks, bufs)
		for j, i := range rows {
			if t == len(prompts[i])-1 {
				m.B.CopyRange(out, i*V, logits, j*V, V)
			}
		}
	}
}
