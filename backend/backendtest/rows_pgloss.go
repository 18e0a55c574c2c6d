package backendtest

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// pgCase is one fused LM-head loss problem with its inputs as stored.
type pgCase struct {
	n, d, v                   int
	in                        backend.PGLossIn
	hidden, head              []float64
	targets                   []int32
	adv, old, ref, weight     []float64
	lse, logp, ent            []float64 // float64 reference statistics
	epsLow, epsHigh, beta     float64
	hasAdv, hasRef, hasWeight bool
}

// newPGCase builds random inputs. Old log-probs are set so that the ratio ρ
// takes values well inside and well outside [1−εl, 1+εh], so both clips are
// active on some tokens and finite differences never straddle a kink.
func newPGCase(h *harness, n, d, v int, mode backend.PGMode, withRef bool, beta float32, chunk int) *pgCase {
	return newPGCaseDT(h, n, d, v, mode, withRef, beta, chunk, backend.F32, backend.F32)
}

// newPGCaseDT is newPGCase with hidden and head of dtypes hdt and wdt.
func newPGCaseDT(h *harness, n, d, v int, mode backend.PGMode, withRef bool, beta float32, chunk int,
	hdt, wdt backend.DType) *pgCase {
	c := &pgCase{n: n, d: d, v: v, epsLow: 0.2, epsHigh: 0.28, beta: float64(beta), hasRef: withRef}
	c.in = backend.PGLossIn{Mode: mode, EpsLow: 0.2, EpsHigh: 0.28, Beta: beta, ChunkV: chunk}
	c.epsLow, c.epsHigh = float64(c.in.EpsLow), float64(c.in.EpsHigh)
	c.in.Hidden, c.hidden = h.input(hdt, h.normal(n*d, 1), n, d)
	c.in.Head, c.head = h.input(wdt, h.normal(v*d, 0.5), v, d)
	c.targets = randIDs(h, n, v)
	c.in.Targets = h.ints(c.targets, n)
	c.lse, c.logp, c.ent = refLogSoftmaxStats(refLogits(c.hidden, c.head, n, d, v), c.targets, n, v)
	if mode == backend.PGLogProbOnly {
		return c
	}
	w := h.uniform(n, 0, 1)
	w[0] = 0
	c.in.Weight, c.weight = h.input(backend.F32, w, n)
	c.hasWeight = true
	if withRef {
		c.in.RefLogp, c.ref = h.input(backend.F32, f32(addNoise(h, c.logp, 0.3)), n)
	}
	if mode != backend.PGTokenClip {
		return c
	}
	ratios := []float64{0.5, 0.7, 0.9, 1, 1.1, 1.2, 1.4, 1.6}
	adv, old := make([]float32, n), make([]float32, n)
	for t := range adv {
		adv[t] = []float32{-1, -0.5, 0, 0.5, 1, 1.5}[h.rng.IntN(6)]
		old[t] = float32(c.logp[t] - math.Log(ratios[h.rng.IntN(len(ratios))]))
	}
	adv[1], old[1] = -1, float32(c.logp[1]-math.Log(0.5)) // low clip active
	adv[2], old[2] = 1, float32(c.logp[2]-math.Log(1.6))  // high clip active
	c.in.Adv, c.adv = h.input(backend.F32, adv, n)
	c.in.OldLogp, c.old = h.input(backend.F32, old, n)
	c.hasAdv = true
	return c
}

// addNoise returns x + normal(0, s²).
func addNoise(h *harness, x []float64, s float64) []float64 {
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] + h.rng.NormFloat64()*s
	}
	return y
}

// terms returns the reference loss terms of token t at log-prob logp.
func (c *pgCase) terms(t int, logp float64) pgTerms {
	switch c.in.Mode {
	case backend.PGTokenClip:
		ref := 0.0
		if c.hasRef {
			ref = c.ref[t]
		}
		return refPGToken(true, logp, c.adv[t], c.old[t], ref, c.weight[t], c.hasRef, c.epsLow, c.epsHigh, c.beta)
	case backend.PGNLL:
		ref := 0.0
		if c.hasRef {
			ref = c.ref[t]
		}
		return refPGToken(false, logp, 0, 0, ref, c.weight[t], c.hasRef, 0, 0, 0)
	}
	return pgTerms{}
}

// runPGForward runs PGLossForward with every output poisoned (entropy left
// nil when skipEntropy) and checks each against the reference.
func runPGForward(h *harness, c *pgCase, skipEntropy bool) {
	outs := make([]backend.Tensor, 7)
	for i := range outs {
		outs[i] = h.output(backend.F32, c.n)
	}
	if skipEntropy {
		outs[1] = nil
	}
	h.e.PGLossForward(backend.PGLossOut{Logp: outs[0], Entropy: outs[1], LSE: outs[2], Loss: outs[3],
		Coef: outs[4], Clip: outs[5], KL: outs[6]}, c.in)
	want := make([][]float64, 4)
	for i := range want {
		want[i] = make([]float64, c.n)
	}
	lows, highs := 0, 0
	for t := 0; t < c.n; t++ {
		r := c.terms(t, c.logp[t])
		want[0][t], want[1][t], want[2][t], want[3][t] = r.loss, r.coef, r.clip, r.kl
		if r.clip < 0 {
			lows++
		} else if r.clip > 0 {
			highs++
		}
	}
	h.check("logp", h.get(outs[0]), c.logp, tolAcc)
	if !skipEntropy {
		h.check("entropy", h.get(outs[1]), c.ent, tolAcc)
	}
	h.check("lse", h.get(outs[2]), c.lse, tolAcc)
	h.check("loss", h.get(outs[3]), want[0], tolAcc)
	h.check("coef", h.get(outs[4]), want[1], tolAcc)
	h.check("clip", h.get(outs[5]), want[2], 0)
	h.check("kl", h.get(outs[6]), want[3], tolAcc)
	if c.in.Mode == backend.PGTokenClip && (lows == 0 || highs == 0) {
		h.t.Fatalf("test bug: clipping not exercised (%d low, %d high)", lows, highs)
	}
	// Coef must be ∂loss/∂logp: check against differences of the reference.
	if c.in.Mode != backend.PGLogProbOnly {
		fd := make([]float64, c.n)
		for t := range fd {
			fd[t] = (c.terms(t, c.logp[t]+1e-5).loss - c.terms(t, c.logp[t]-1e-5).loss) / 2e-5
		}
		h.check("coef vs finite differences of the reference loss", want[1], fd, 1e-6)
	}
}

// pgRows covers PGLossForward in every mode and PGLossBackward.
func pgRows() []row {
	return []row{
		{name: "pgloss_fwd_tokenclip_kl", run: func(h *harness) {
			runPGForward(h, newPGCase(h, 40, 16, 19, backend.PGTokenClip, true, 0.04, 7), false)
		}},
		{name: "pgloss_fwd_tokenclip_noref", run: func(h *harness) {
			runPGForward(h, newPGCase(h, 33, 24, 50, backend.PGTokenClip, false, 0, 0), true)
		}},
		{name: "pgloss_fwd_nll", run: func(h *harness) {
			runPGForward(h, newPGCase(h, 30, 16, 23, backend.PGNLL, true, 0, 5), false)
		}},
		{name: "pgloss_fwd_logprob_only", run: func(h *harness) {
			runPGForward(h, newPGCase(h, 30, 16, 23, backend.PGLogProbOnly, false, 0, 4), false)
		}},
		{name: "pgloss_bwd", run: func(h *harness) {
			c := newPGCase(h, 37, 12, 23, backend.PGLogProbOnly, false, 0, 5)
			vals := h.normal(c.n, 1)
			vals[3] = 0 // a zero-coefficient row contributes nothing
			coef, cv := h.input(backend.F32, vals, c.n)
			lse, _ := h.input(backend.F32, f32(c.lse), c.n)
			runPGBackward(h, c, lse, cv, func() float64 {
				_, logp, _ := refLogSoftmaxStats(refLogits(c.hidden, c.head, c.n, c.d, c.v), c.targets, c.n, c.v)
				return dot(cv, logp)
			}, coef)
		}},
		{name: "pgloss_chain_tokenclip_kl", run: func(h *harness) {
			// Forward on the engine, its Coef into the backward: the gradient
			// must be that of Σ Loss by finite differences.
			c := newPGCase(h, 24, 8, 13, backend.PGTokenClip, true, 0.1, 6)
			lse, coef := h.output(backend.F32, c.n), h.output(backend.F32, c.n)
			h.e.PGLossForward(backend.PGLossOut{LSE: lse, Coef: coef}, c.in)
			cv := make([]float64, c.n)
			for t := range cv {
				cv[t] = c.terms(t, c.logp[t]).coef
			}
			h.check("coef", h.get(coef), cv, tolAcc)
			runPGBackward(h, c, lse, cv, func() float64 {
				_, logp, _ := refLogSoftmaxStats(refLogits(c.hidden, c.head, c.n, c.d, c.v), c.targets, c.n, c.v)
				var l float64
				for t := range logp {
					l += c.terms(t, logp[t]).loss
				}
				return l
			}, coef)
		}},
	}
}

// runPGBackward runs PGLossBackward with the engine tensor coef and checks
// dHidden (overwritten) and dHead (accumulated) for the reference
// coefficients cv against the analytic reference and against finite
// differences of loss.
func runPGBackward(h *harness, c *pgCase, lse backend.Tensor, cv []float64, loss func() float64, coef backend.Tensor) {
	runPGBackwardDT(h, c, lse, cv, loss, coef, dtypeTol{backend.F32, tolAcc}, backend.F32)
}

// runPGBackwardDT is runPGBackward with dHidden of dtype dh.dt and dHead of
// dtype wdt, checked with tolerance dh.tol (finite differences only when
// both are fp32 and the tolerance is tolAcc).
func runPGBackwardDT(h *harness, c *pgCase, lse backend.Tensor, cv []float64, loss func() float64, coef backend.Tensor,
	dhT dtypeTol, wdt backend.DType) {
	dh := h.output(dhT.dt, c.n, c.d)
	dw, dw0 := h.input(wdt, h.normal(c.v*c.d, 1), c.v, c.d)
	h.e.PGLossBackward(dh, dw, c.in, lse, coef)
	logits := refLogits(c.hidden, c.head, c.n, c.d, c.v)
	g := make([]float64, c.n*c.v)
	for t := 0; t < c.n; t++ {
		for j := 0; j < c.v; j++ {
			ind := 0.0
			if int(c.targets[t]) == j {
				ind = 1
			}
			g[t*c.v+j] = cv[t] * (ind - math.Exp(logits[t*c.v+j]-c.lse[t]))
		}
	}
	rh := refMatMul(g, c.head, nil, c.n, c.d, c.v, false, false, 1, 0)
	rw := refMatMul(g, c.hidden, nil, c.v, c.d, c.n, true, false, 1, 0)
	gh, gw := h.get(dh), sub(h.get(dw), dw0)
	h.check("dHidden", gh, rh, dhT.tol)
	h.check("dHead", gw, rw, dhT.tol)
	if dhT.tol == tolAcc && dhT.dt == backend.F32 && wdt == backend.F32 {
		h.fdCheck("dHidden", c.hidden, gh, rh, loss, 30)
		h.fdCheck("dHead", c.head, gw, rw, loss, 30)
	}
}
