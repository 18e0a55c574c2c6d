package memplan

import "github.com/sirl-dev/sirl/model"

// acts counts the activation bytes of one micro-step of each kind: the
// tensors model, train and rollout allocate between two
// ResetPool(backend.Activations) calls, each rounded up to align.
type acts struct {
	c model.Config
	T int64 // padded row length
}

// sum adds up tensors of n elements each, count of them.
type sum int64

func (s *sum) add(count, n int64) {
	if n > 0 {
		*s += sum(count * alignUp(4*n))
	}
}

// layer is one block's saved activations (model.layerActs) over N tokens of
// B rows: ln1, x1, ln2 [N, d]; rstd1, rstd2 [N]; q, att [N, H·hd]; k, v
// [N, KVH·hd]; lse [B, H, T]; gate, up, h [N, FFN].
func (a acts) layer(s *sum, N int64) {
	c := a.c
	d, qd, kvd := int64(c.Dim), int64(c.Heads*c.HeadDim()), int64(c.KVHeads*c.HeadDim())
	s.add(3, N*d)
	s.add(2, N)
	s.add(2, N*qd)
	s.add(2, N*kvd)
	s.add(1, N*int64(c.Heads))
	s.add(3, N*int64(c.FFN))
}

// forward is train's batch tensors, model.Forward's saved activations and
// the fused loss's outputs for rows sequences of T tokens.
func (a acts) forward(s *sum, rows int64) {
	N, d, L := rows*a.T, int64(a.c.Dim), int64(a.c.Layers)
	s.add(5, N)     // targets, advantages, old and reference log-probs, weights
	s.add(2, N)     // ids, positions
	s.add(L+1, N*d) // residual stream entering each layer and after the last
	for range L {
		a.layer(s, N)
	}
	s.add(1, N*d) // final norm output
	s.add(1, N)   // its 1/rms
	s.add(7, N)   // loss outputs: log-prob, entropy, lse, loss, coef, clip, kl
}

// train is one forward+backward over rows sequences: forward, the hidden
// gradient and model.Backward's scratch (dx, dtmp, dln [N, d]; dh, dgate,
// dup [N, FFN]; datt, dq [N, H·hd]; dk, dv [N, KVH·hd]).
func (a acts) train(rows int64) int64 {
	if rows == 0 {
		return 0
	}
	c := a.c
	N, d := rows*a.T, int64(c.Dim)
	var s sum
	a.forward(&s, rows)
	s.add(1, N*d)
	s.add(3, N*d)
	s.add(3, N*int64(c.FFN))
	s.add(2, N*int64(c.Heads*c.HeadDim()))
	s.add(2, N*int64(c.KVHeads*c.HeadDim()))
	return int64(s)
}

// score is one gradient-free forward with the loss over rows sequences.
func (a acts) score(rows int64) int64 {
	var s sum
	if rows > 0 {
		a.forward(&s, rows)
	}
	return int64(s)
}

// prefill is one batched Prefill of n prompts padded to tokens positions in
// all (ids, positions, two residual buffers, one reused set of layer
// activations, the last positions' hidden state, norm and logits) and the
// sampling of draw rows after it (a logits row copied per sample, the
// uniforms, tokens and log-probs).
func (a acts) prefill(n, tokens, draw int64) int64 {
	c := a.c
	d, V := int64(c.Dim), int64(c.Vocab)
	var s sum
	s.add(2, tokens)
	s.add(2, tokens*d)
	a.layer(&s, tokens)
	s.add(2, n*d)
	s.add(1, n)
	s.add(1, n*V)
	a.draw(&s, draw)
	return int64(s)
}

// decode is one Step over n sequences with block tables width wide
// (model.stepBufs, the paged-cache tables, sampling).
func (a acts) decode(n, width int64) int64 {
	c := a.c
	d, qd, kvd := int64(c.Dim), int64(c.Heads*c.HeadDim()), int64(c.KVHeads*c.HeadDim())
	var s sum
	s.add(2, n) // ids, positions
	s.add(3, n*d)
	s.add(1, n)
	s.add(2, n*qd)
	s.add(2, n*kvd)
	s.add(3, n*int64(c.FFN))
	s.add(1, n*int64(c.Vocab))
	s.add(1, n*width) // block table
	s.add(1, n)       // sequence lengths
	a.draw(&s, n)
	return int64(s)
}

// draw is rollout's sampling of rows tokens: a copy of each row's logits
// (when rows share a logits row), the uniforms, tokens and log-probs.
func (a acts) draw(s *sum, rows int64) {
	s.add(1, rows*int64(a.c.Vocab))
	s.add(3, rows)
}
