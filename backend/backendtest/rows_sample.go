package backendtest

import (
	"fmt"
	"math"
	"sort"

	"github.com/sirl-dev/sirl/backend"
)

// refSampler is the documented sampling procedure of backend.Sample (see
// the CPU engine's Sample) in float64, for one row.
type refSampler struct {
	order []int     // kept tokens in sampling order
	p     []float64 // unnormalised probabilities exp(z − max)
	mass  float64   // mass of the kept tokens
}

// newRefSampler applies temperature, top-k and top-p to a row (t > 0).
func newRefSampler(logits []float32, sp backend.SampleParams) refSampler {
	v := len(logits)
	z := make([]float32, v)
	m := math.Inf(-1)
	for i, x := range logits {
		z[i] = x / sp.Temperature
		m = math.Max(m, float64(z[i]))
	}
	s := refSampler{p: make([]float64, v)}
	for i := range z {
		s.p[i] = math.Exp(float64(z[i]) - m)
		s.order = append(s.order, i)
	}
	sort.SliceStable(s.order, func(a, b int) bool { return z[s.order[a]] > z[s.order[b]] })
	if sp.TopK > 0 && sp.TopK < v {
		s.order = s.order[:sp.TopK]
	}
	for _, i := range s.order {
		s.mass += s.p[i]
	}
	if sp.TopP < 1 {
		var cum float64
		for n, i := range s.order {
			cum += s.p[i]
			if cum >= float64(sp.TopP)*s.mass {
				s.order = s.order[:n+1]
				break
			}
		}
		s.mass = cum
	}
	return s
}

// draw returns the inverse-CDF token for u and the distance of u·mass to
// the nearest CDF boundary (relative to mass).
func (s refSampler) draw(u float64) (int, float64) {
	target := u * s.mass
	var cum float64
	tok, gap := s.order[len(s.order)-1], math.Inf(1)
	found := false
	for _, i := range s.order {
		cum += s.p[i]
		gap = math.Min(gap, math.Abs(cum-target)/s.mass)
		if !found && cum > target {
			tok, found = i, true
		}
	}
	return tok, gap
}

// refLogSoftmax returns log softmax(logits/t)[i] (t = 1 for greedy).
func refLogSoftmax(logits []float32, t float32, i int) float64 {
	if t == 0 {
		t = 1
	}
	m := math.Inf(-1)
	z := make([]float64, len(logits))
	for j, x := range logits {
		z[j] = float64(x / t)
		m = math.Max(m, z[j])
	}
	var s float64
	for _, x := range z {
		s += math.Exp(x - m)
	}
	return z[i] - m - math.Log(s)
}

// runSample uploads logits [b, v] and u, samples, and returns tokens and
// logprobs.
func runSample(h *harness, logits []float32, u []float32, v int, sp backend.SampleParams) ([]int32, []float64) {
	b := len(u)
	lt, _ := h.input(backend.F32, logits, b, v)
	ut, _ := h.input(backend.F32, u, b)
	tok, lp := h.output(backend.I32, b), h.output(backend.F32, b)
	h.e.Sample(tok, lp, lt, ut, sp)
	return h.getInts(tok), h.get(lp)
}

// sampleRows covers greedy, top-k = 1, fixed-u draws and the top-p mass.
func sampleRows() []row {
	const v = 37
	argmax := func(row []float32) int {
		best := 0
		for i, x := range row {
			if x > row[best] {
				best = i
			}
		}
		return best
	}
	checkGreedy := func(h *harness, sp backend.SampleParams) {
		const b = 6
		logits := h.normal(b*v, 3)
		logits[5], logits[20] = 20, 20 // a tie: the lower id wins
		toks, lps := runSample(h, logits, h.uniform(b, 0, 1), v, sp)
		want := make([]float64, b)
		for r := 0; r < b; r++ {
			row := logits[r*v : (r+1)*v]
			if int(toks[r]) != argmax(row) {
				h.t.Fatalf("row %d: token %d, want argmax %d", r, toks[r], argmax(row))
			}
			want[r] = refLogSoftmax(row, sp.Temperature, argmax(row))
		}
		h.check("logprobs", lps, want, tolF32)
	}
	rs := []row{
		{name: "sample_greedy", run: func(h *harness) { checkGreedy(h, backend.SampleParams{TopP: 1}) }},
		{name: "sample_topk1", run: func(h *harness) {
			checkGreedy(h, backend.SampleParams{Temperature: 0.8, TopK: 1, TopP: 1})
		}},
		{name: "sample_topp0", run: func(h *harness) {
			checkGreedy(h, backend.SampleParams{Temperature: 0.9, TopP: 0})
		}},
		{name: "sample_topp_mass", run: func(h *harness) {
			const b = 64
			row := h.normal(v, 2)
			logits := make([]float32, 0, b*v)
			u := make([]float32, b)
			for i := range u {
				logits = append(logits, row...)
				u[i] = (float32(i) + 0.5) / b
			}
			u[b-1] = 0.99999
			sp := backend.SampleParams{Temperature: 1, TopP: 0.6}
			toks, _ := runSample(h, logits, u, v, sp)
			full := newRefSampler(row, backend.SampleParams{Temperature: 1, TopP: 1})
			rank := map[int]int{}
			for n, i := range full.order {
				rank[i] = n
			}
			nucleus := 0
			for _, tk := range toks {
				var before float64
				for _, i := range full.order[:rank[int(tk)]] {
					before += full.p[i]
				}
				if before >= 0.6*full.mass {
					h.t.Errorf("token %d lies outside the top-p nucleus (mass before it %.4f ≥ 0.6)", tk, before/full.mass)
				}
				nucleus = max(nucleus, rank[int(tk)]+1)
			}
			var mass float64
			for _, i := range full.order[:nucleus] {
				mass += full.p[i]
			}
			if mass < 0.6*full.mass {
				h.t.Errorf("u → 1 drew within a prefix of mass %.4f < 0.6: the nucleus is cut short", mass/full.mass)
			}
		}},
	}
	for _, sp := range []backend.SampleParams{
		{Temperature: 0.7, TopP: 1},
		{Temperature: 1.3, TopK: 5, TopP: 1},
		{Temperature: 0.7, TopP: 0.9},
		{Temperature: 1, TopK: 7, TopP: 0.8},
	} {
		rs = append(rs, row{name: fmt.Sprintf("sample_draw_T%g_k%d_p%g", sp.Temperature, sp.TopK, sp.TopP), run: func(h *harness) {
			const b = 16
			logits := h.normal(b*v, 2)
			u := h.uniform(b, 0, 1)
			want := make([]int, b)
			for r := range u {
				s := newRefSampler(logits[r*v:(r+1)*v], sp)
				for {
					tok, gap := s.draw(float64(u[r]))
					if gap > 1e-4 {
						want[r] = tok
						break
					}
					u[r] = float32(math.Mod(float64(u[r])+0.013, 1))
				}
			}
			toks, lps := runSample(h, logits, u, v, sp)
			wantLP := make([]float64, b)
			for r := range u {
				if int(toks[r]) != want[r] {
					h.t.Fatalf("row %d (u=%v): token %d, want %d", r, u[r], toks[r], want[r])
				}
				wantLP[r] = refLogSoftmax(logits[r*v:(r+1)*v], sp.Temperature, want[r])
			}
			h.check("logprobs", lps, wantLP, tolF32)
		}})
	}
	return rs
}
