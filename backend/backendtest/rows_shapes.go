package backendtest

import (
	"fmt"
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// shapeRows run the ops at the shapes and dtypes that the GPU engine
// specialises on, so that every kernel and every path of it runs: the bf16
// tensor-core attention (head dim 64 and 128, lengths not a multiple of the
// 64-row tile, GQA and MHA), the fp32 attention with a head dim over one
// warp, bf16 and long-vocabulary sampling in every mode (ties, more tokens
// than threads), the PG loss over several vocabulary chunks (the default
// chunk too) with bf16 and mixed-dtype operands (the GEMM fallback kernel),
// wide RMSNorm rows and a mixed-dtype MatMul. Each row is small: the table
// also runs on the emulated GPU engine, twice.
func shapeRows() []row {
	bf := dtypeTol{backend.BF16, tolBF}
	rs := []row{
		{name: "attention_fwd_tc_bf16_d64_gqa", run: func(h *harness) {
			runAttnForward(h, attnCase{b: 1, t: 70, h: 4, kvh: 2, d: 64}, 0, bf)
		}},
		{name: "attention_fwd_tc_bf16_d128_gqa", run: func(h *harness) {
			runAttnForward(h, attnCase{b: 2, t: 65, h: 2, kvh: 1, d: 128}, 0, bf)
		}},
		{name: "attention_bwd_tc_bf16_d64_gqa", run: func(h *harness) {
			runAttnBackwardDT(h, attnCase{b: 1, t: 70, h: 4, kvh: 2, d: 64}, bf)
		}},
		{name: "attention_bwd_tc_bf16_d128_mha", run: func(h *harness) {
			runAttnBackwardDT(h, attnCase{b: 1, t: 67, h: 2, kvh: 2, d: 128}, bf)
		}},
		{name: "attention_fwd_f32_d72", run: func(h *harness) {
			runAttnForward(h, attnCase{b: 1, t: 41, h: 4, kvh: 2, d: 72}, 0, dtypeTol{backend.F32, tolF32})
		}},
		{name: "attention_bwd_f32_d40", run: func(h *harness) {
			runAttnBackward(h, attnCase{b: 1, t: 37, h: 2, kvh: 1, d: 40})
		}},
		{name: "attention_bwd_bf16_d16", run: func(h *harness) {
			runAttnBackwardDT(h, attnCase{b: 2, t: 35, h: 4, kvh: 2, d: 16}, bf)
		}},
		{name: "kvappend_decode_bf16_d128", run: func(h *harness) { runDecode(h, 128, dtypeTol{backend.BF16, tolAcc}) }},
		{name: "embedding_bwd_n1500", run: func(h *harness) {
			// more ids than the sort's 1024 threads, many repeats of each
			const v, d, n = 40, 24, 1500
			dtab, d0 := h.input(backend.F32, h.normal(v*d, 1), v, d)
			dy, dyv := h.input(backend.F32, h.normal(n*d, 1), n, d)
			ids := randIDs(h, n, v)
			h.e.EmbeddingBackward(dtab, dy, h.ints(ids, n))
			ref := make([]float64, v*d)
			for i, id := range ids {
				for j := 0; j < d; j++ {
					ref[int(id)*d+j] += dyv[i*d+j]
				}
			}
			h.check("dtable", sub(h.get(dtab), d0), ref, tolAcc)
		}},
		{name: "sample_greedy_bf16_v3000", run: func(h *harness) {
			const b, v = 3, 3000
			logits := h.normal(b*v, 2)
			for r := 0; r < b; r++ {
				logits[r*v+2500], logits[r*v+1700] = 12, 12 // a tie at the max: id 1700 wins
			}
			stored, u := sampleInputs(h, backend.BF16, logits, b, v)
			checkDraws(h, backend.BF16, stored, u, v, backend.SampleParams{TopP: 1})
		}},
	}
	for _, c := range []struct {
		dt backend.DType
		v  int
		sp backend.SampleParams
	}{
		{backend.BF16, 3000, backend.SampleParams{Temperature: 0.8, TopP: 1}},
		{backend.BF16, 3000, backend.SampleParams{Temperature: 1, TopK: 50, TopP: 1}},
		{backend.BF16, 3000, backend.SampleParams{Temperature: 1.2, TopP: 0.9}},
		{backend.F32, 2500, backend.SampleParams{Temperature: 0.9, TopK: 200, TopP: 0.95}},
	} {
		rs = append(rs, row{name: fmt.Sprintf("sample_draw_%v_v%d_T%g_k%d_p%g", c.dt, c.v, c.sp.Temperature, c.sp.TopK,
			c.sp.TopP), run: func(h *harness) {
			const b = 4
			stored, u := sampleInputs(h, c.dt, h.normal(b*c.v, 2), b, c.v)
			checkDraws(h, c.dt, stored, u, c.v, c.sp)
		}})
	}
	rs = append(rs,
		row{name: "sample_topk_ties", run: func(h *harness) {
			// Logits from a few values: the top-k boundary falls inside a
			// group of equal logits, which the order breaks by lower id.
			const b, v = 4, 1500
			logits := make([]float32, b*v)
			for i := range logits {
				logits[i] = float32(h.rng.IntN(6)) * 0.5
			}
			stored, u := sampleInputs(h, backend.F32, logits, b, v)
			checkDraws(h, backend.F32, stored, u, v, backend.SampleParams{Temperature: 1, TopK: 300, TopP: 1})
			checkDraws(h, backend.F32, stored, u, v, backend.SampleParams{Temperature: 1, TopK: 300, TopP: 0.5})
		}},
		row{name: "pgloss_fwd_tokenclip_bf16_3chunks", run: func(h *harness) {
			runPGForward(h, newPGCaseDT(h, 20, 64, 70, backend.PGTokenClip, true, 0.04, 32, backend.BF16, backend.BF16), false)
		}},
		row{name: "pgloss_fwd_nll_defaultchunk_v9000", run: func(h *harness) {
			runPGForward(h, newPGCaseDT(h, 6, 8, 9000, backend.PGNLL, true, 0, 0, backend.F32, backend.F32), false)
		}},
		row{name: "pgloss_fwd_logprob_mixed_2chunks", run: func(h *harness) {
			// bf16 hidden with an fp32 head: no cuBLAS type, the GEMM kernel
			runPGForward(h, newPGCaseDT(h, 9, 16, 40, backend.PGLogProbOnly, false, 0, 24, backend.BF16, backend.F32), false)
		}},
		row{name: "pgloss_bwd_bf16_3chunks", run: func(h *harness) {
			c := newPGCaseDT(h, 19, 32, 45, backend.PGLogProbOnly, false, 0, 16, backend.BF16, backend.BF16)
			coef, cv := h.input(backend.F32, h.normal(c.n, 1), c.n)
			lse, _ := h.input(backend.F32, f32(c.lse), c.n)
			runPGBackwardDT(h, c, lse, cv, nil, coef, bf, backend.F32)
		}},
		row{name: "pgloss_bwd_mixed_2chunks", run: func(h *harness) {
			c := newPGCaseDT(h, 11, 16, 30, backend.PGLogProbOnly, false, 0, 20, backend.F32, backend.BF16)
			coef, cv := h.input(backend.F32, h.normal(c.n, 1), c.n)
			lse, _ := h.input(backend.F32, f32(c.lse), c.n)
			runPGBackwardDT(h, c, lse, cv, nil, coef, dtypeTol{backend.F32, tolBF}, backend.F32)
		}},
		row{name: "rmsnorm_fwd_bf16_wide", run: func(h *harness) {
			const n, c = 5, 700
			x, xv := h.input(backend.BF16, h.normal(n*c, 2), n, c)
			w, wv := h.input(backend.BF16, h.uniform(c, 0.5, 1.5), c)
			out, rstd := h.output(backend.BF16, n, c), h.output(backend.F32, n)
			h.e.RMSNormForward(out, rstd, x, w, 1e-5)
			ro, rr := refRMSNorm(xv, wv, n, c, float64(float32(1e-5)))
			h.check("out", h.get(out), ro, tolBF)
			h.check("rstd", h.get(rstd), rr, tolF32)
		}},
		row{name: "rmsnorm_bwd_bf16_wide", run: func(h *harness) {
			const n, c, eps = 300, 520, 1e-5
			x, xv := h.input(backend.BF16, h.normal(n*c, 2), n, c)
			w, wv := h.input(backend.BF16, h.uniform(c, 0.5, 1.5), c)
			dy, dyv := h.input(backend.BF16, h.normal(n*c, 1), n, c)
			out, rstd := h.output(backend.BF16, n, c), h.output(backend.F32, n)
			h.e.RMSNormForward(out, rstd, x, w, eps)
			dx := h.output(backend.BF16, n, c)
			dw, dw0 := h.input(backend.F32, h.normal(c, 1), c)
			h.e.RMSNormBackward(dx, dw, dy, x, w, rstd)
			rdx, rdw := refRMSNormBackward(dyv, xv, wv, n, c, float64(float32(eps)))
			h.check("dx", h.get(dx), rdx, tolBF)
			h.check("dw", sub(h.get(dw), dw0), rdw, tolBF)
		}},
		row{name: "matmul_mixed_bf16_f32", run: func(h *harness) {
			const m, n, k = 70, 33, 40
			a, av := h.input(backend.BF16, h.normal(m*k, 1), m, k)
			b, bv := h.input(backend.F32, h.normal(n*k, 1), n, k)
			c, cv := h.input(backend.F32, h.normal(m*n, 1), m, n)
			h.e.MatMul(c, a, b, backend.MatMulParams{TransB: true, Alpha: 0.5, Beta: 2})
			h.check("c", h.get(c), refMatMul(av, bv, cv, m, n, k, false, true, 0.5, 2), tolF32)
		}},
	)
	return rs
}

// sampleInputs uploads logits [b, v] in dt and returns them as stored,
// with draws u in (0, 1).
func sampleInputs(h *harness, dt backend.DType, logits []float32, b, v int) ([]float32, []float32) {
	_, stored := h.input(dt, logits, b, v)
	return f32(stored), h.uniform(b, 0, 1)
}

// checkDraws samples each row of logits (as stored in dt) and compares the
// tokens with the reference sampler and the log-probs with log-softmax.
// Draws within 1e-4 of a CDF boundary are moved off it first (the engine's
// masses may differ from float64 in the last bits).
func checkDraws(h *harness, dt backend.DType, logits, u []float32, v int, sp backend.SampleParams) {
	h.t.Helper()
	b := len(u)
	want := make([]int, b)
	for r := range u {
		row := logits[r*v : (r+1)*v]
		if !(sp.Temperature > 0) {
			want[r] = 0
			for i, x := range row {
				if x > row[want[r]] {
					want[r] = i
				}
			}
			continue
		}
		s := newRefSampler(row, sp)
		for {
			tok, gap := s.draw(float64(u[r]))
			if gap > 1e-4 {
				want[r] = tok
				break
			}
			u[r] = float32(math.Mod(float64(u[r])+0.013, 1))
		}
	}
	lt, _ := h.input(dt, logits, b, v)
	ut, _ := h.input(backend.F32, u, b)
	tok, lp := h.output(backend.I32, b), h.output(backend.F32, b)
	h.e.Sample(tok, lp, lt, ut, sp)
	toks, lps := h.getInts(tok), h.get(lp)
	wantLP := make([]float64, b)
	for r := range u {
		if int(toks[r]) != want[r] {
			h.t.Fatalf("row %d (u=%v, %+v): token %d, want %d", r, u[r], sp, toks[r], want[r])
		}
		wantLP[r] = refLogSoftmax(logits[r*v:(r+1)*v], sp.Temperature, want[r])
	}
	h.check("logprobs", lps, wantLP, tolF32)
}
