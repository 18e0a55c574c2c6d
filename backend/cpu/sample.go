package cpu

import (
	"container/heap"
	"math"
	"slices"

	"github.com/sirl-dev/sirl/backend"
)

// Sample draws one token per row of logits [B, V] with the caller's uniforms
// u [B] in [0, 1). The exact procedure, which the CUDA kernel reproduces, is
// for each row:
//
//  1. Temperature T = p.Temperature. If T == 0 the token is the argmax of
//     the logits (the lowest id among ties) and steps 2-6 are skipped.
//  2. z_v = logits_v / T in float32; p_v = exp(z_v − max z) / Σ exp(z − max z)
//     (the CPU engine sums in float64).
//  3. Order the tokens by z descending, ties by lower id first.
//  4. Top-k: if 0 < TopK < V, keep the first TopK tokens of that order.
//  5. Top-p: if TopP < 1, keep the shortest prefix of the kept tokens whose
//     probability mass is ≥ TopP · (mass of the kept tokens), i.e. nucleus
//     sampling on the distribution renormalised after top-k as in Hugging
//     Face; at least one token is always kept (TopP = 0 keeps only the
//     most likely one).
//  6. Draw by inverse CDF: target = u·(mass of the kept tokens); walk the
//     kept tokens in order accumulating p; the token is the first whose
//     running sum exceeds target (the last kept token if rounding leaves
//     none).
//
// logprobs[b] = z_token − logsumexp(z), with z = logits/T (T = 1 for greedy):
// the log-probability under the temperature-scaled, unfiltered distribution.
func (e *Engine) Sample(tokens, logprobs, logits, u backend.Tensor, p backend.SampleParams) {
	c := e.begin("Sample")
	if c == nil {
		return
	}
	ut, lg := c.float(u, "u"), c.float(logits, "logits")
	if !c.ok() {
		return
	}
	b := ut.n
	if len(lg.shape) != 2 || lg.shape[0] != b {
		c.failf("logits %v must be [%d, V]", lg.shape, b)
	}
	c.require(p.Temperature >= 0 && p.TopK >= 0 && p.TopP >= 0 && p.TopP <= 1,
		"temperature %g, top-k %d, top-p %g: need T ≥ 0, k ≥ 0, 0 ≤ p ≤ 1", p.Temperature, p.TopK, p.TopP)
	tok, lp := c.ints(tokens, "tokens", b), c.floatN(logprobs, "logprobs", b)
	if !c.ok() {
		return
	}
	v := lg.shape[1]
	c.require(v > 0, "logits %v has no vocabulary", lg.shape)
	if !c.ok() {
		return
	}
	e.parallel(b, v*8, func(lo, hi int) {
		s := sampler{z: make([]float32, v), p: make([]float64, v), idx: make([]int32, 0, v)}
		for r := lo; r < hi; r++ {
			id, logp := s.row(lg.f[r*v:(r+1)*v], ut.f[r], p)
			tok.i[r], lp.f[r] = id, logp
		}
		lp.round(lo, hi)
	})
}

// sampler holds the scratch space of one goroutine.
type sampler struct {
	z   []float32
	p   []float64
	idx []int32
}

// row samples one row of logits.
func (s *sampler) row(logits []float32, u float32, p backend.SampleParams) (int32, float32) {
	t := p.Temperature
	if t == 0 {
		best := 0
		for i, x := range logits {
			if x > logits[best] {
				best = i
			}
		}
		return int32(best), logSoftmaxAt(logits, s.z, 1, best)
	}
	z := s.z
	m := float32(math.Inf(-1))
	for i, x := range logits {
		z[i] = x / t
		m = max(m, z[i])
	}
	var total float64
	for i, x := range z {
		s.p[i] = math.Exp(float64(x - m))
		total += s.p[i]
	}
	s.order(p.TopK)
	kept := s.idx
	var mass float64
	for _, i := range kept {
		mass += s.p[i]
	}
	if p.TopP < 1 {
		need := float64(p.TopP) * mass
		var cum float64
		for n, i := range kept {
			cum += s.p[i]
			if cum >= need {
				kept = kept[:n+1]
				break
			}
		}
		mass = cum
	}
	target := float64(u) * mass
	token := kept[len(kept)-1]
	var cum float64
	for _, i := range kept {
		cum += s.p[i]
		if cum > target {
			token = i
			break
		}
	}
	lp := float64(z[token]-m) - math.Log(total)
	return token, float32(lp)
}

// logSoftmaxAt returns log softmax(logits/t)[i], using z as scratch.
func logSoftmaxAt(logits, z []float32, t float32, i int) float32 {
	m := float32(math.Inf(-1))
	for j, x := range logits {
		z[j] = x / t
		m = max(m, z[j])
	}
	var sum float64
	for _, x := range z[:len(logits)] {
		sum += math.Exp(float64(x - m))
	}
	return float32(float64(z[i]-m) - math.Log(sum))
}

// before is the sampling order: higher z first, lower id on ties.
func (s *sampler) before(a, b int32) bool {
	if s.z[a] != s.z[b] {
		return s.z[a] > s.z[b]
	}
	return a < b
}

// order fills s.idx with the token ids in sampling order, only the first k
// when 0 < k < V.
func (s *sampler) order(k int) {
	v := len(s.z)
	s.idx = s.idx[:0]
	if k > 0 && k < v {
		h := &topHeap{s: s}
		for i := range v {
			id := int32(i)
			if len(h.ids) < k {
				heap.Push(h, id)
			} else if s.before(id, h.ids[0]) {
				h.ids[0] = id
				heap.Fix(h, 0)
			}
		}
		s.idx = append(s.idx, h.ids...)
	} else {
		for i := range v {
			s.idx = append(s.idx, int32(i))
		}
	}
	slices.SortFunc(s.idx, func(a, b int32) int {
		if s.before(a, b) {
			return -1
		}
		if s.before(b, a) {
			return 1
		}
		return 0
	})
}

// topHeap keeps the k best ids with the worst at the root.
type topHeap struct {
	s   *sampler
	ids []int32
}

func (h *topHeap) Len() int           { return len(h.ids) }
func (h *topHeap) Less(i, j int) bool { return h.s.before(h.ids[j], h.ids[i]) }
func (h *topHeap) Swap(i, j int)      { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *topHeap) Push(x any)         { h.ids = append(h.ids, x.(int32)) }
func (h *topHeap) Pop() any {
	x := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return x
}
