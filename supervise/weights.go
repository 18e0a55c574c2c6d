package supervise

import "fmt"

// Loss aggregation modes: the verl loss_agg_mode names of the baselines and
// the gate_norm names of SIRL (METHOD.md §2.2, §3.9).
const (
	AggTokenMean           = "token-mean"              // DAPO: Σ_i Σ_t ℓ / Σ_i |y_i|
	AggSeqMeanTokenMean    = "seq-mean-token-mean"     // GRPO: mean_i Σ_t ℓ / |y_i|
	AggSeqMeanTokenSum     = "seq-mean-token-sum"      // mean_i Σ_t ℓ
	AggSeqMeanTokenSumNorm = "seq-mean-token-sum-norm" // Dr. GRPO: Σ_i Σ_t ℓ / (|B|·L_max)
	AggSeqMeanActive       = "seq_mean_active"         // SIRL default: (1/|B|) Σ_z Σ_t g ℓ / max(1, Σ_t g)
	AggTokenMeanActive     = "token_mean_active"       // Σ g ℓ / Σ g over the batch
	AggConst               = "const"                   // Σ g ℓ / (|B|·L_max)
)

// TokenWeights returns the per-token weights W_{z,t} that the backend's
// policy-gradient loss op multiplies (backend.PGLossIn.Weight), so that
// Σ_z Σ_t W_{z,t}·ℓ_{z,t} is the aggregated loss of mode. lens are the
// response lengths |z| of the batch B; gates (nil = all ones) are the gates
// g_{z,t}, each of length lens[z]; Lmax is the maximum response length
// (used by seq-mean-token-sum-norm and const only).
//
// The baseline modes use the gate as a mask and normalise by lengths; the
// *_active modes normalise by the number of active (gated) tokens. With all
// gates 1, seq_mean_active equals seq-mean-token-mean, token_mean_active
// equals token-mean, and const equals seq-mean-token-sum-norm.
func TokenWeights(mode string, lens []int, gates [][]float32, Lmax int) ([][]float32, error) {
	tot, err := BatchTotals(lens, gates)
	if err != nil {
		return nil, err
	}
	return TokenWeightsOver(mode, lens, gates, Lmax, tot)
}

// Totals are the batch-wide sums that TokenWeights' denominators use: the
// number of sequences |B|, their tokens Σ|z| and their gates Σg. A
// data-parallel step sums them over every rank's share of the batch, so
// that each rank's weights are those of the whole batch.
type Totals struct {
	Seqs, Tokens, Gates float64
}

// BatchTotals checks lens and gates (as TokenWeights describes them) and
// returns their totals.
func BatchTotals(lens []int, gates [][]float32) (Totals, error) {
	if gates != nil && len(gates) != len(lens) {
		return Totals{}, fmt.Errorf("supervise: token weights: %d gate rows for %d sequences", len(gates), len(lens))
	}
	t := Totals{Seqs: float64(len(lens))}
	for z, n := range lens {
		if n < 0 {
			return Totals{}, fmt.Errorf("supervise: token weights: negative length %d", n)
		}
		if gates != nil && len(gates[z]) != n {
			return Totals{}, fmt.Errorf("supervise: token weights: sequence %d has %d gates for %d tokens", z, len(gates[z]), n)
		}
		t.Tokens += float64(n)
		row := 0.0 // summed by row, then rows: TokenWeights' order
		for i := 0; i < n; i++ {
			row += gateAt(gates, z, i)
		}
		t.Gates += row
	}
	return t, nil
}

func gateAt(gates [][]float32, z, t int) float64 {
	if gates == nil {
		return 1
	}
	return float64(gates[z][t])
}

// TokenWeightsOver is TokenWeights with the batch totals given: tot holds
// the totals of the whole batch (every rank's share of it), lens and gates
// this rank's sequences. With tot = BatchTotals(lens, gates) it is
// TokenWeights.
func TokenWeightsOver(mode string, lens []int, gates [][]float32, Lmax int, tot Totals) ([][]float32, error) {
	if _, err := BatchTotals(lens, gates); err != nil {
		return nil, err
	}
	B, totalLen, totalGate := tot.Seqs, tot.Tokens, tot.Gates
	gate := func(z, t int) float64 { return gateAt(gates, z, t) }
	rowGate := make([]float64, len(lens))
	for z, n := range lens {
		for t := 0; t < n; t++ {
			rowGate[z] += gate(z, t)
		}
	}
	// norm(z) is the denominator applied to every g_{z,t} of sequence z.
	var norm func(z int) float64
	switch mode {
	case AggTokenMean:
		norm = func(int) float64 { return totalLen }
	case AggSeqMeanTokenMean:
		norm = func(z int) float64 { return B * float64(lens[z]) }
	case AggSeqMeanTokenSum:
		norm = func(int) float64 { return B }
	case AggSeqMeanTokenSumNorm, AggConst:
		if Lmax <= 0 {
			return nil, fmt.Errorf("supervise: token weights: mode %s needs Lmax > 0, got %d", mode, Lmax)
		}
		norm = func(int) float64 { return B * float64(Lmax) }
	case AggSeqMeanActive:
		norm = func(z int) float64 { return B * max(1, rowGate[z]) }
	case AggTokenMeanActive:
		norm = func(int) float64 { return max(1, totalGate) }
	default:
		return nil, fmt.Errorf("supervise: loss aggregation %q is not one of token-mean, seq-mean-token-mean, seq-mean-token-sum, seq-mean-token-sum-norm, seq_mean_active, token_mean_active, const", mode)
	}
	out := make([][]float32, len(lens))
	for z, n := range lens {
		row := make([]float32, n)
		d := norm(z)
		for t := range row {
			if g := gate(z, t); g != 0 && d > 0 {
				row[t] = float32(g / d)
			}
		}
		out[z] = row
	}
	return out, nil
}
