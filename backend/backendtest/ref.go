package backendtest

import "math"

// Float64 references. Layouts follow backend: row-major, [N, C] rows,
// [B, T, H, D] heads, weights [Out, In].

// refMatMul returns alpha·op(a)·op(b) + beta·c0 for one m×n product
// (c0 may be nil when beta is 0).
func refMatMul(a, b, c0 []float64, m, n, k int, ta, tb bool, alpha, beta float64) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			c[i*n+j] = alpha * s
			if beta != 0 {
				c[i*n+j] += beta * c0[i*n+j]
			}
		}
	}
	return c
}

// refRMSNorm returns out and rstd for x [n, cols].
func refRMSNorm(x, w []float64, n, cols int, eps float64) (out, rstd []float64) {
	out, rstd = make([]float64, len(x)), make([]float64, n)
	for i := 0; i < n; i++ {
		row := x[i*cols : (i+1)*cols]
		r := 1 / math.Sqrt(dot(row, row)/float64(cols)+eps)
		rstd[i] = r
		for j, v := range row {
			out[i*cols+j] = v * r * w[j]
		}
	}
	return out, rstd
}

// refRMSNormBackward returns dx and dw (not accumulated).
func refRMSNormBackward(dy, x, w []float64, n, cols int, eps float64) (dx, dw []float64) {
	dx, dw = make([]float64, len(x)), make([]float64, cols)
	for i := 0; i < n; i++ {
		row, g := x[i*cols:(i+1)*cols], dy[i*cols:(i+1)*cols]
		r := 1 / math.Sqrt(dot(row, row)/float64(cols)+eps)
		var s float64
		for j := range row {
			s += w[j] * g[j] * row[j]
		}
		for j := range row {
			dx[i*cols+j] = r*w[j]*g[j] - row[j]*r*r*r*s/float64(cols)
			dw[j] += g[j] * row[j] * r
		}
	}
	return dx, dw
}

// refRoPE rotates x [n, heads, hd] by sign·angle (rotate-half layout).
func refRoPE(x []float64, pos []int32, heads, hd int, theta, sign float64) []float64 {
	y := append([]float64(nil), x...)
	half := hd / 2
	for t, p := range pos {
		for h := 0; h < heads; h++ {
			v := y[(t*heads+h)*hd : (t*heads+h+1)*hd]
			for i := 0; i < half; i++ {
				ang := float64(p) * math.Pow(theta, -2*float64(i)/float64(hd))
				s, c := math.Sincos(ang)
				s *= sign
				a, b := v[i], v[i+half]
				v[i], v[i+half] = a*c-b*s, b*c+a*s
			}
		}
	}
	return y
}

// sigm is the logistic function.
func sigm(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// refAttention returns out [B,T,H,D] and lse [B,H,T] of causal GQA.
func refAttention(q, k, v []float64, b, t, h, kvh, d int, scale float64) (out, lse []float64) {
	out, lse = make([]float64, b*t*h*d), make([]float64, b*h*t)
	s := make([]float64, t)
	for bb := 0; bb < b; bb++ {
		for hh := 0; hh < h; hh++ {
			g := hh / (h / kvh)
			for i := 0; i < t; i++ {
				qi := q[((bb*t+i)*h+hh)*d:][:d]
				m := math.Inf(-1)
				for j := 0; j <= i; j++ {
					s[j] = scale * dot(qi, k[((bb*t+j)*kvh+g)*d:][:d])
					m = math.Max(m, s[j])
				}
				var z float64
				for j := 0; j <= i; j++ {
					s[j] = math.Exp(s[j] - m)
					z += s[j]
				}
				lse[(bb*h+hh)*t+i] = m + math.Log(z)
				o := out[((bb*t+i)*h+hh)*d:][:d]
				for j := 0; j <= i; j++ {
					vj := v[((bb*t+j)*kvh+g)*d:][:d]
					for e := range o {
						o[e] += s[j] / z * vj[e]
					}
				}
			}
		}
	}
	return out, lse
}

// refAttentionBackward returns dq, dk, dv of causal GQA for dout.
func refAttentionBackward(dout, q, k, v []float64, b, t, h, kvh, d int, scale float64) (dq, dk, dv []float64) {
	out, lse := refAttention(q, k, v, b, t, h, kvh, d, scale)
	dq, dk, dv = make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	for bb := 0; bb < b; bb++ {
		for hh := 0; hh < h; hh++ {
			g := hh / (h / kvh)
			for i := 0; i < t; i++ {
				qo := ((bb*t+i)*h + hh) * d
				di := dot(dout[qo:qo+d], out[qo:qo+d])
				l := lse[(bb*h+hh)*t+i]
				for j := 0; j <= i; j++ {
					ko := ((bb*t+j)*kvh + g) * d
					p := math.Exp(scale*dot(q[qo:qo+d], k[ko:ko+d]) - l)
					ds := p * (dot(dout[qo:qo+d], v[ko:ko+d]) - di)
					for e := 0; e < d; e++ {
						dq[qo+e] += scale * ds * k[ko+e]
						dk[ko+e] += scale * ds * q[qo+e]
						dv[ko+e] += p * dout[qo+e]
					}
				}
			}
		}
	}
	return dq, dk, dv
}

// refLogits returns hidden [n, d] · headᵀ [v, d]ᵀ.
func refLogits(hidden, head []float64, n, d, v int) []float64 {
	return refMatMul(hidden, head, nil, n, v, d, false, true, 1, 0)
}

// refLogSoftmaxStats returns lse, logp of targets and entropy per row.
func refLogSoftmaxStats(logits []float64, targets []int32, n, v int) (lse, logp, ent []float64) {
	lse, logp, ent = make([]float64, n), make([]float64, n), make([]float64, n)
	for t := 0; t < n; t++ {
		row := logits[t*v : (t+1)*v]
		m := math.Inf(-1)
		for _, x := range row {
			m = math.Max(m, x)
		}
		var z float64
		for _, x := range row {
			z += math.Exp(x - m)
		}
		lse[t] = m + math.Log(z)
		logp[t] = row[targets[t]] - lse[t]
		for _, x := range row {
			p := math.Exp(x - lse[t])
			ent[t] -= p * (x - lse[t])
		}
	}
	return lse, logp, ent
}

// pgTerms are the per-token policy-gradient results.
type pgTerms struct{ loss, coef, clip, kl float64 }

// refPGToken is the documented per-token loss of backend.PGTokenClip
// (clip = true) or backend.PGNLL (clip = false); hasRef selects the KL term.
func refPGToken(clip bool, logp, adv, old, ref, w float64, hasRef bool, epsLow, epsHigh, beta float64) pgTerms {
	var r pgTerms
	var k3, dk3 float64
	if hasRef {
		x := ref - logp
		k3, dk3 = math.Exp(x)-x-1, 1-math.Exp(x)
		r.kl = k3
	}
	if !clip {
		r.loss, r.coef = -w*logp, -w
		return r
	}
	rho := math.Exp(logp - old)
	un := rho * adv
	cl := math.Min(math.Max(rho, 1-epsLow), 1+epsHigh) * adv
	obj, dobj := un, rho*adv
	if cl < un {
		obj = cl
		if rho <= 1-epsLow || rho >= 1+epsHigh {
			dobj = 0
		}
	}
	switch {
	case adv < 0 && rho < 1-epsLow:
		r.clip = -1
	case adv > 0 && rho > 1+epsHigh:
		r.clip = 1
	}
	r.loss = -w*obj + beta*w*k3
	r.coef = -w*dobj + beta*w*dk3
	return r
}

// refAdamW applies one PyTorch AdamW step in place.
func refAdamW(p, g, m, v []float64, lr, b1, b2, eps, wd float64, step int) {
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	for i := range p {
		p[i] *= 1 - lr*wd
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		p[i] -= lr * (m[i] / bc1) / (math.Sqrt(v[i]/bc2) + eps)
	}
}
