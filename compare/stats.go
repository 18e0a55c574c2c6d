package compare

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// accAt interpolates a curve's accuracy at a token count.
func accAt(c []CurvePoint, tok float64) float64 {
	if len(c) == 0 {
		return math.NaN()
	}
	if tok <= c[0].Tokens {
		return c[0].Accuracy
	}
	for i := 1; i < len(c); i++ {
		if tok <= c[i].Tokens {
			a, b := c[i-1], c[i]
			if b.Tokens == a.Tokens {
				return b.Accuracy
			}
			f := (tok - a.Tokens) / (b.Tokens - a.Tokens)
			return a.Accuracy + f*(b.Accuracy-a.Accuracy)
		}
	}
	return c[len(c)-1].Accuracy
}

// auc is the area under accuracy vs budget fraction over [0, 1].
func auc(c []CurvePoint, budget float64) float64 {
	const n = 100
	s := 0.0
	for i := 0; i <= n; i++ {
		w := 1.0
		if i == 0 || i == n {
			w = 0.5
		}
		s += w * accAt(c, budget*float64(i)/n)
	}
	return s / n
}

// meanCI is the mean and the half-width of its 95 % t-interval.
func meanCI(xs []float64) (float64, float64) {
	m := stat.Mean(xs, nil)
	if len(xs) < 2 {
		return m, 0
	}
	sd := stat.StdDev(xs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(0.975)
	return m, t * sd / math.Sqrt(float64(len(xs)))
}

// tokensTo is the sampled tokens at which a curve first reaches accuracy
// target, interpolating linearly between evaluation points; ok is false
// when it never does within limit tokens.
func tokensTo(c []CurvePoint, target, limit float64) (float64, bool) {
	for i, p := range c {
		if p.Accuracy < target {
			continue
		}
		tok := p.Tokens
		if i > 0 {
			a := c[i-1] // a.Accuracy < target <= p.Accuracy
			tok = a.Tokens + (target-a.Accuracy)/(p.Accuracy-a.Accuracy)*(p.Tokens-a.Tokens)
		}
		// The tolerance absorbs the rounding of inverting accAt at limit.
		return tok, tok <= limit*(1+1e-9)
	}
	return 0, false
}

func nan() float64 { return math.NaN() }
