package cpu

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// defaultChunkV is the vocabulary chunk width when PGLossIn.ChunkV is 0.
const defaultChunkV = 4096

// pgScratch bounds the logits scratch (rows × chunk) in elements.
const pgScratch = 1 << 22

// pgArgs is a validated PGLossIn.
type pgArgs struct {
	hidden, head, targets       *Tensor
	adv, old, ref, weight       *Tensor
	n, d, v, chunk, rowsPerPass int
}

// pgCheck validates in: Hidden [N, d], Head [V, d], Targets I32 [N] in
// [0, V), and the per-token inputs the mode needs (Adv, OldLogp, Weight for
// PGTokenClip; Weight for PGNLL; RefLogp always optional).
func pgCheck(c *opCheck, in backend.PGLossIn) pgArgs {
	var a pgArgs
	a.head, a.hidden = c.float(in.Head, "head"), c.float(in.Hidden, "hidden")
	if !c.ok() {
		return a
	}
	if len(a.head.shape) != 2 {
		c.failf("head %v must be [V, d]", a.head.shape)
		return a
	}
	a.v, a.d = a.head.shape[0], a.head.shape[1]
	a.n = c.rowsOf(a.hidden, "hidden", a.d)
	a.targets = c.ints(in.Targets, "targets", a.n)
	if !c.ok() {
		return a
	}
	for i, y := range a.targets.i {
		if y < 0 || int(y) >= a.v {
			c.failf("targets[%d] = %d out of range [0, %d)", i, y, a.v)
			return a
		}
	}
	switch in.Mode {
	case backend.PGTokenClip:
		a.adv, a.old = c.floatN(in.Adv, "adv", a.n), c.floatN(in.OldLogp, "old logp", a.n)
		a.weight = c.floatN(in.Weight, "weight", a.n)
	case backend.PGNLL:
		a.weight = c.floatN(in.Weight, "weight", a.n)
	case backend.PGLogProbOnly:
	default:
		c.failf("unknown mode %d", in.Mode)
	}
	a.ref = c.optFloatN(in.RefLogp, "ref logp", a.n)
	c.require(in.ChunkV >= 0, "chunk %d must not be negative", in.ChunkV)
	a.chunk = in.ChunkV
	if a.chunk == 0 {
		a.chunk = defaultChunkV
	}
	a.chunk = min(a.chunk, max(a.v, 1))
	a.rowsPerPass = max(256, pgScratch/a.chunk/256*256)
	return a
}

// logits computes z = hidden[r0:r1] · head[v0:v0+cw]ᵀ into z [r1−r0, cw].
func (e *Engine) pgLogits(a pgArgs, z []float32, r0, r1, v0, cw int) {
	e.gemm(gemmArgs{transB: true, m: r1 - r0, n: cw, k: a.d, alpha: 1,
		a: a.hidden.f[r0*a.d:], lda: a.d, b: a.head.f[v0*a.d:], ldb: a.d, c: z, ldc: cw})
}

// PGLossForward computes, per token t with logits z = Hidden·Headᵀ (formed
// ChunkV columns at a time with an online log-sum-exp, never N×V at once):
//
//	LSE_t = log Σ_v exp(z_tv);  Logp_t = z_t,y − LSE_t;
//	Entropy_t = −Σ_v p_v log p_v = LSE_t − Σ_v p_v z_tv.
//
// Then by mode (nil outputs are skipped):
//
// PGTokenClip: ρ = exp(logp − old), unclipped = ρA, clipped =
// clip(ρ, 1−εl, 1+εh)·A, k3 = exp(r) − r − 1 with r = ref − logp (0 and no
// KL without RefLogp), Loss = −W·min(unclipped, clipped) + Beta·W·k3.
// Clip = −1 if A < 0 and ρ < 1−εl, +1 if A > 0 and ρ > 1+εh, else 0; these
// are exactly the tokens where the clipped branch is the (strict) minimum,
// and there its derivative is 0. So Coef = ∂Loss/∂logp =
// −W·ρ·A·[Clip = 0] + Beta·W·(1 − exp(r)).
//
// PGNLL: Loss = −W·logp, Coef = −W, Clip = 0, KL = k3 when RefLogp is given
// (reported only, not added to the loss).
//
// PGLogProbOnly: Loss, Coef, Clip and KL are zeroed.
func (e *Engine) PGLossForward(out backend.PGLossOut, in backend.PGLossIn) {
	c := e.begin("PGLossForward")
	if c == nil {
		return
	}
	a := pgCheck(c, in)
	if !c.ok() {
		return
	}
	outs := make([]*Tensor, 7)
	for i, t := range []backend.Tensor{out.Logp, out.Entropy, out.LSE, out.Loss, out.Coef, out.Clip, out.KL} {
		outs[i] = c.optFloatN(t, [...]string{"logp", "entropy", "lse", "loss", "coef", "clip", "kl"}[i], a.n)
	}
	if !c.ok() {
		return
	}
	// Online log-sum-exp state per row: max m, Σ exp(z−m), Σ exp(z−m)·z.
	m := make([]float64, a.n)
	s := make([]float64, a.n)
	w := make([]float64, a.n)
	zy := make([]float64, a.n)
	for i := range m {
		m[i] = math.Inf(-1)
	}
	z := e.floats(min(a.rowsPerPass, a.n) * a.chunk)
	defer e.putFloats(z)
	for r0 := 0; r0 < a.n; r0 += a.rowsPerPass {
		r1 := min(a.n, r0+a.rowsPerPass)
		for v0 := 0; v0 < a.v; v0 += a.chunk {
			cw := min(a.chunk, a.v-v0)
			e.pgLogits(a, z, r0, r1, v0, cw)
			e.parallel(r1-r0, cw*4, func(lo, hi int) {
				tmp := e.floats(cw)
				defer e.putFloats(tmp)
				for r := lo; r < hi; r++ {
					t := r0 + r
					row := z[r*cw : (r+1)*cw]
					cm := math.Max(m[t], float64(maxf(row)))
					if cm > m[t] {
						f := math.Exp(m[t] - cm)
						s[t] *= f
						w[t] *= f
						m[t] = cm
					}
					ds, dw := sumExp(row, float32(cm), tmp)
					s[t] += ds
					w[t] += dw
					if y := int(a.targets.i[t]) - v0; y >= 0 && y < cw {
						zy[t] = float64(row[y])
					}
				}
			})
		}
	}
	e.parallel(a.n, 64, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			lse := m[t] + math.Log(s[t])
			vals := pgToken(a, in, t, zy[t]-lse)
			vals[1] = lse - w[t]/s[t]
			vals[2] = lse
			for i, o := range outs {
				if o != nil {
					o.f[t] = float32(vals[i])
				}
			}
		}
	})
	for _, o := range outs {
		if o != nil {
			o.round(0, o.n)
		}
	}
}

// pgToken returns logp, entropy (unset), lse (unset), loss, coef, clip and
// KL of token t in the order of PGLossOut.
func pgToken(a pgArgs, in backend.PGLossIn, t int, logp float64) [7]float64 {
	var v [7]float64
	v[0] = logp
	if in.Mode == backend.PGLogProbOnly {
		return v
	}
	wt := float64(a.weight.f[t])
	var k3, dk3 float64
	if a.ref != nil {
		r := float64(a.ref.f[t]) - logp
		k3 = math.Expm1(r) - r
		dk3 = -math.Expm1(r) // ∂k3/∂logp = 1 − exp(r)
		v[6] = k3
	}
	if in.Mode == backend.PGNLL {
		v[3], v[4] = -wt*logp, -wt
		return v
	}
	adv := float64(a.adv.f[t])
	rho := math.Exp(logp - float64(a.old.f[t]))
	lo, hi := 1-float64(in.EpsLow), 1+float64(in.EpsHigh)
	obj, dobj := rho*adv, rho*adv
	switch {
	case adv < 0 && rho < lo:
		v[5], obj, dobj = -1, lo*adv, 0
	case adv > 0 && rho > hi:
		v[5], obj, dobj = 1, hi*adv, 0
	}
	beta := float64(in.Beta)
	v[3] = -wt*obj + beta*wt*k3
	v[4] = -wt*dobj + beta*wt*dk3
	return v
}

// PGLossBackward recomputes each logits chunk from Hidden and the saved LSE,
// forms dlogits_tv = Coef_t·(1[v = y_t] − p_tv), and writes
// dHidden = dlogits·Head (overwriting) and accumulates dHead += dlogitsᵀ·Hidden.
// Rows with Coef_t = 0 contribute nothing.
func (e *Engine) PGLossBackward(dHidden, dHead backend.Tensor, in backend.PGLossIn, lse, coef backend.Tensor) {
	c := e.begin("PGLossBackward")
	if c == nil {
		return
	}
	a := pgCheck(c, in)
	if !c.ok() {
		return
	}
	dh, dw := c.floatN(dHidden, "dHidden", a.n*a.d), c.floatN(dHead, "dHead", a.v*a.d)
	lt, ct := c.floatN(lse, "lse", a.n), c.floatN(coef, "coef", a.n)
	if !c.ok() {
		return
	}
	z := e.floats(min(a.rowsPerPass, a.n) * a.chunk)
	defer e.putFloats(z)
	for r0 := 0; r0 < a.n; r0 += a.rowsPerPass {
		r1 := min(a.n, r0+a.rowsPerPass)
		rows := r1 - r0
		for v0 := 0; v0 < a.v; v0 += a.chunk {
			cw := min(a.chunk, a.v-v0)
			e.pgLogits(a, z, r0, r1, v0, cw)
			e.parallel(rows, cw*4, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					t := r0 + r
					row := z[r*cw : (r+1)*cw]
					k := ct.f[t]
					if k == 0 {
						clear(row)
						continue
					}
					expSub(row, lt.f[t])
					for j, p := range row {
						row[j] = -k * p
					}
					if y := int(a.targets.i[t]) - v0; y >= 0 && y < cw {
						row[y] += k
					}
				}
			})
			beta := float32(1)
			if v0 == 0 {
				beta = 0
			}
			e.gemm(gemmArgs{m: rows, n: a.d, k: cw, alpha: 1, beta: beta,
				a: z, lda: cw, b: a.head.f[v0*a.d:], ldb: a.d, c: dh.f[r0*a.d:], ldc: a.d})
			e.gemm(gemmArgs{transA: true, m: cw, n: a.d, k: rows, alpha: 1, beta: 1,
				a: z, lda: cw, b: a.hidden.f[r0*a.d:], ldb: a.d, c: dw.f[v0*a.d:], ldc: a.d})
		}
	}
	dh.round(0, dh.n)
	dw.round(0, dw.n)
}

// maxf returns the largest element of x (−Inf for an empty x).
func maxf(x []float32) float32 {
	m := [4]float32{float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))}
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		m[0], m[1], m[2], m[3] = max(m[0], v[0]), max(m[1], v[1]), max(m[2], v[2]), max(m[3], v[3])
	}
	for ; i < len(x); i++ {
		m[0] = max(m[0], x[i])
	}
	return max(max(m[0], m[1]), max(m[2], m[3]))
}

// sumExp returns Σ exp(x−m) and Σ exp(x−m)·x in float64, summed in four
// interleaved lanes (a fixed order); tmp is scratch of len(x).
func sumExp(x []float32, m float32, tmp []float32) (s, w float64) {
	e := tmp[:len(x)]
	copy(e, x)
	expSub(e, m)
	var s4, w4 [4]float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v, p := x[i:i+4:i+4], e[i:i+4:i+4]
		for l := range 4 {
			s4[l] += float64(p[l])
			w4[l] += float64(p[l] * v[l])
		}
	}
	for ; i < len(x); i++ {
		s4[0] += float64(e[i])
		w4[0] += float64(e[i] * x[i])
	}
	return (s4[0] + s4[1]) + (s4[2] + s4[3]), (w4[0] + w4[1]) + (w4[2] + w4[3])
}

// sum64 returns Σ x in float64, summed in four interleaved lanes.
func sum64(x []float32) float64 {
	var s [4]float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s[0], s[1], s[2], s[3] = s[0]+float64(v[0]), s[1]+float64(v[1]), s[2]+float64(v[2]), s[3]+float64(v[3])
	}
	for ; i < len(x); i++ {
		s[0] += float64(x[i])
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}
