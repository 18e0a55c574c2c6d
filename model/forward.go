package model

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// Acts holds what one training Forward saved for Backward. Every tensor in it
// comes from the activations pool: an Acts is invalid after
// ResetPool(backend.Activations), which the caller does once per micro-step.
type Acts struct {
	B, T, N  int              // batch rows, row length, tokens B·T
	ids, pos backend.Tensor   // I32 [N]
	x        []backend.Tensor // residual stream entering each layer, and after the last: [N, d]
	layers   []layerActs
	out      backend.Tensor // final-norm output [N, d]
	rstd     backend.Tensor // final-norm 1/rms [N]
}

// layerActs are one block's saved activations.
type layerActs struct {
	ln1, rstd1 backend.Tensor // attention-input norm [N, d], [N]
	q, k, v    backend.Tensor // after RoPE: [N, H·hd], [N, KVH·hd], [N, KVH·hd]
	att, lse   backend.Tensor // attention output [N, H·hd], log-sum-exp [B, H, T]
	x1         backend.Tensor // residual after attention [N, d]
	ln2, rstd2 backend.Tensor // MLP-input norm
	gate, up   backend.Tensor // [N, FFN]
	h          backend.Tensor // silu(gate)·up [N, FFN]
}

// Hidden is the final-norm hidden state [B·T, Dim], the input of the LM head.
func (a *Acts) Hidden() backend.Tensor { return a.out }

// IDs is the I32 [B·T] tensor of the token ids the forward ran on.
func (a *Acts) IDs() backend.Tensor { return a.ids }

// Forward runs the model over a right-padded batch of B rows of T tokens
// (ids row-major, len B·T; position t of every row is at RoPE position t)
// and returns the saved activations; Hidden() is the final-norm output. The
// attention is causal, so padding to the right of a row never changes the
// row's earlier hidden states.
func (m *Model) Forward(ids []int32, B, T int) (*Acts, error) {
	c := m.Cfg
	if B <= 0 || T <= 0 || len(ids) != B*T {
		return nil, fmt.Errorf("model forward: %d ids for batch %d×%d", len(ids), B, T)
	}
	if T > c.MaxSeq {
		return nil, fmt.Errorf("model forward: sequence length %d exceeds max_seq %d", T, c.MaxSeq)
	}
	if err := m.checkTokens(ids); err != nil {
		return nil, err
	}
	b := m.B
	N, d := B*T, c.Dim
	a := &Acts{B: B, T: T, N: N, x: make([]backend.Tensor, c.Layers+1), layers: make([]layerActs, c.Layers)}
	a.ids = m.actI32(ids)
	m.posBuf = grow(m.posBuf, N)
	for i := range m.posBuf {
		m.posBuf[i] = int32(i % T)
	}
	a.pos = m.actI32(m.posBuf)

	x := m.act(N, d)
	b.EmbeddingForward(x, m.embed.W, a.ids)
	a.x[0] = x
	for l := range m.layers {
		a.layers[l] = m.newLayerActs(B, T)
		a.x[l+1] = m.act(N, d)
		m.layerForward(&m.layers[l], &a.layers[l], a.x[l], a.x[l+1], a.pos)
	}
	x = a.x[c.Layers]
	a.out, a.rstd = m.act(N, d), m.act(N)
	b.RMSNormForward(a.out, a.rstd, x, m.norm.W, c.NormEps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("model forward: %w", err)
	}
	return a, nil
}

// newLayerActs allocates one block's activations for B×T tokens.
func (m *Model) newLayerActs(B, T int) layerActs {
	c := m.Cfg
	N, d := B*T, c.Dim
	qd, kvd := c.Heads*c.HeadDim(), c.KVHeads*c.HeadDim()
	return layerActs{
		ln1: m.act(N, d), rstd1: m.act(N),
		q: m.act(N, qd), k: m.act(N, kvd), v: m.act(N, kvd),
		att: m.act(N, qd), lse: m.act(B, c.Heads, T),
		x1:  m.act(N, d),
		ln2: m.act(N, d), rstd2: m.act(N),
		gate: m.act(N, c.FFN), up: m.act(N, c.FFN), h: m.act(N, c.FFN),
	}
}

// layerForward runs block L on the residual stream x [B·T, d] into out,
// saving its activations in s.
func (m *Model) layerForward(L *layer, s *layerActs, x, out, pos backend.Tensor) {
	c, b := m.Cfg, m.B
	hd, H, KVH := c.HeadDim(), c.Heads, c.KVHeads
	ap := backend.AttnParams{Heads: H, KVHeads: KVH, HeadDim: hd}

	b.RMSNormForward(s.ln1, s.rstd1, x, L.attnNorm.W, c.NormEps)
	m.linear(s.q, s.ln1, L.q, L.qb)
	m.linear(s.k, s.ln1, L.k, L.kb)
	m.linear(s.v, s.ln1, L.v, L.vb)
	b.RoPEForward(s.q, pos, H, hd, c.RopeTheta)
	b.RoPEForward(s.k, pos, KVH, hd, c.RopeTheta)
	b.AttentionForward(s.att, s.lse,
		s.q, s.k, s.v, ap)
	m.linear(s.x1, s.att, L.o, nil)
	b.Add(s.x1, s.x1, x)

	b.RMSNormForward(s.ln2, s.rstd2, s.x1, L.mlpNorm.W, c.NormEps)
	m.linear(s.gate, s.ln2, L.gate, nil)
	m.linear(s.up, s.ln2, L.up, nil)
	b.SwiGLUForward(s.h, s.gate, s.up)
	m.linear(out, s.h, L.down, nil)
	b.Add(out, out, s.x1)
}

// Backward accumulates every parameter gradient from dHidden [B·T, Dim], the
// gradient of the loss with respect to Hidden(). The LM head's own gradient
// is the caller's (PGLossBackward into HeadGrad()). a must come from Forward
// on this model since the last activations reset. The gradients must exist:
// Backward returns an error unless EnsureTrainState (or ZeroGrads, HeadGrad,
// Grads) ran first.
func (m *Model) Backward(a *Acts, dHidden backend.Tensor) error {
	if !m.HasTrainState() {
		return fmt.Errorf("model backward: no gradient buffers: call EnsureTrainState (or ZeroGrads) before training")
	}
	if a == nil || len(a.layers) != len(m.layers) {
		return fmt.Errorf("model backward: activations from a different model")
	}
	if dHidden == nil || dHidden.Len() != a.out.Len() {
		return fmt.Errorf("model backward: dHidden must be [%d, %d]", a.N, m.Cfg.Dim)
	}
	c, b := m.Cfg, m.B
	N, d, hd := a.N, c.Dim, c.HeadDim()
	H, KVH := c.Heads, c.KVHeads
	qd, kvd := H*hd, KVH*hd
	ap := backend.AttnParams{Heads: H, KVHeads: KVH, HeadDim: hd}

	// Scratch shared by every layer.
	dx, dtmp, dln := m.act(N, d), m.act(N, d), m.act(N, d)
	dh, dgate, dup := m.act(N, c.FFN), m.act(N, c.FFN), m.act(N, c.FFN)
	datt, dq, dk, dv := m.act(N, qd), m.act(N, qd), m.act(N, kvd), m.act(N, kvd)

	b.RMSNormBackward(dx, m.norm.G, dHidden, a.x[c.Layers], m.norm.W, a.rstd)
	for l := len(m.layers) - 1; l >= 0; l-- {
		L, s := &m.layers[l], &a.layers[l]
		// MLP: x2 = x1 + down(swiglu(gate(ln2), up(ln2))), dx holds dx2.
		m.linearBackward(dh, dx, s.h, L.down, nil, false)
		b.SwiGLUBackward(dgate, dup, dh, s.gate, s.up)
		m.linearBackward(dln, dgate, s.ln2, L.gate, nil, false)
		m.linearBackward(dln, dup, s.ln2, L.up, nil, true)
		b.RMSNormBackward(dtmp, L.mlpNorm.G, dln, s.x1, L.mlpNorm.W, s.rstd2)
		b.Add(dx, dx, dtmp)

		// Attention: x1 = x + o(attn(rope(q), rope(k), v)), dx holds dx1.
		m.linearBackward(datt, dx, s.att, L.o, nil, false)
		b.AttentionBackward(dq, dk, dv,
			datt, s.att, s.lse,
			s.q, s.k, s.v, ap)
		b.RoPEBackward(dq, a.pos, H, hd, c.RopeTheta)
		b.RoPEBackward(dk, a.pos, KVH, hd, c.RopeTheta)
		m.linearBackward(dln, dq, s.ln1, L.q, L.qb, false)
		m.linearBackward(dln, dk, s.ln1, L.k, L.kb, true)
		m.linearBackward(dln, dv, s.ln1, L.v, L.vb, true)
		b.RMSNormBackward(dtmp, L.attnNorm.G, dln, a.x[l], L.attnNorm.W, s.rstd1)
		b.Add(dx, dx, dtmp)
	}
	b.EmbeddingBackward(m.embed.G, dx, a.ids)
	if err := b.Err(); err != nil {
		return fmt.Errorf("model backward: %w", err)
	}
	return nil
}
