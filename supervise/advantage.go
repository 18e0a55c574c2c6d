package supervise

import (
	"fmt"
	"math"
)

// Baseline algorithm names (config key algo) whose group advantages
// GroupAdvantages computes.
const (
	AlgoGRPO           = "grpo"
	AlgoDAPO           = "dapo"
	AlgoGSPO           = "gspo"
	AlgoDrGRPO         = "dr_grpo"
	AlgoVinePPOOutcome = "vineppo-outcome"
)

// GroupStats returns the mean and the standard deviation of one group's
// rewards. The std is the sample (Bessel-corrected, N−1) one, as torch.std in
// verl's compute_grpo_outcome_advantage and in TRL's GRPOTrainer; a group of
// one gets mean 0 and std 1, as in verl.
func GroupStats(rewards []float64) (mean, std float64) {
	n := len(rewards)
	if n == 0 {
		return 0, 0
	}
	if n == 1 {
		return 0, 1
	}
	for _, r := range rewards {
		mean += r
	}
	mean /= float64(n)
	ss := 0.0
	for _, r := range rewards {
		ss += (r - mean) * (r - mean)
	}
	return mean, math.Sqrt(ss / float64(n-1))
}

// GroupAdvantages is the outcome advantage Â_i of each sample of one group:
//
//	grpo, dapo, gspo:  (r_i − μ)/(σ + eps) when scaleStd, else r_i − μ;
//	dr_grpo:           r_i − μ (scaleStd is ignored);
//	vineppo-outcome:   r_i − μ, the one-step VinePPO advantage with V̂(s_0)
//	                   estimated by the group mean (scaleStd is ignored).
//
// μ and σ come from GroupStats (σ is the sample std; verl eps = 1e-6, TRL uses
// 1e-4). An all-equal group gets zero advantages.
func GroupAdvantages(rewards []float64, algo string, scaleStd bool, eps float64) ([]float64, error) {
	div := false
	switch algo {
	case AlgoGRPO, AlgoDAPO, AlgoGSPO:
		div = scaleStd
	case AlgoDrGRPO, AlgoVinePPOOutcome:
	default:
		return nil, fmt.Errorf("supervise: algo %q is not grpo, dapo, gspo, dr_grpo or vineppo-outcome", algo)
	}
	if div && eps <= 0 {
		return nil, fmt.Errorf("supervise: std-scaled advantages need eps > 0, got %v", eps)
	}
	mean, std := GroupStats(rewards)
	out := make([]float64, len(rewards))
	for i, r := range rewards {
		out[i] = r - mean
		if div {
			out[i] /= std + eps
		}
	}
	return out, nil
}

// VineAdvantages is the VinePPO step advantage of METHOD.md §2.3(1) for one
// response with S = len(values)−1 steps: values are V̂(s_0..s_S) (values[S] is
// ignored: V̂(s_S) := 0), reward is the outcome reward given at the last step,
// and A_k = r_k + V̂(s_k) − V̂(s_{k−1}) for k = 1..S, returned at index k−1.
func VineAdvantages(values []float64, reward float64) ([]float64, error) {
	if len(values) < 2 {
		return nil, fmt.Errorf("supervise: VineAdvantages needs V̂(s_0..s_S) with S ≥ 1, got %d values", len(values))
	}
	S := len(values) - 1
	out := make([]float64, S)
	for k := 1; k <= S; k++ {
		vk, rk := 0.0, 0.0
		if k < S {
			vk = values[k]
		} else {
			rk = reward
		}
		out[k-1] = rk + vk - values[k-1]
	}
	return out, nil
}

// StepToTokens spreads per-step values (index = 0-based step) over the n
// tokens of a response with stepOf; tokens whose step has no value get 0.
func StepToTokens(stepVals []float64, stepOf func(int) int, n int) []float32 {
	out := make([]float32, n)
	for t := range out {
		if k := stepOf(t); k >= 0 && k < len(stepVals) {
			out[t] = float32(stepVals[k])
		}
	}
	return out
}
