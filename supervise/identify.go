package supervise

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Sibling is the identification of variant sibling (METHOD.md §3.5.3) and the
// anchor rule of variant repair (§3.4 line 8): the correct sibling with the
// longest common token prefix with y, ties broken uniformly at random with rng
// (nil rng: the first one). It returns the index into correct and t*, the
// 0-based first divergence (= the LCP length). anchorIdx is -1 (and tStar -1)
// when correct is empty.
func Sibling(y []int32, correct [][]int32, rng *rand.Rand) (anchorIdx int, tStar int) {
	anchorIdx, tStar = -1, -1
	ties := 0
	for j, a := range correct {
		l := LCP(y, a)
		switch {
		case l > tStar:
			anchorIdx, tStar, ties = j, l, 1
		case l == tStar:
			ties++
			// Reservoir choice: the j-th of `ties` equal candidates wins
			// with probability 1/ties, so each is chosen uniformly.
			if rng != nil && rng.IntN(ties) == 0 {
				anchorIdx = j
			}
		}
	}
	return anchorIdx, tStar
}

// ChooseAnchor picks the repair anchor a (METHOD.md §3.4 line 8): the same
// max-LCP rule as Sibling. It returns -1 when correct is empty.
func ChooseAnchor(y []int32, correct [][]int32, rng *rand.Rand) int {
	i, _ := Sibling(y, correct, rng)
	return i
}

// Continuation is one Monte-Carlo continuation drawn from a state s_k: its
// tokens (after the prefix) and its outcome reward.
type Continuation struct {
	Tokens []int32
	Reward float64
}

// BisectConfig configures the MC bisection of METHOD.md §3.5.2.
type BisectConfig struct {
	// TauV is τ_v: a state is "still right" when V̂(s) > TauV (default 0).
	TauV float64
	// NoRetry disables the one retry with M more samples when V̂(s_mid) ≤ τ_v
	// and mid = lo+1.
	NoRetry bool
}

// BisectResult is the outcome of Bisect.
type BisectResult struct {
	// E is the first wrong step, 1-based as in METHOD.md: V̂(s_{E−1}) > τ_v
	// and V̂(s_E) ≤ τ_v. Its tokens have 0-based step index E−1.
	E int
	// VPrev is V̂(s_{E−1}) (v0 when E = 1).
	VPrev float64
	// Conts are the continuations drawn at s_{E−1} (nil when E = 1: the state
	// s_0 was not probed; its samples are the group itself).
	Conts []Continuation
	// Probes counts probe calls (including a retry); Retried reports whether
	// the retry was used.
	Probes  int
	Retried bool
	// Values holds V̂(s_k) for each probed k (after merging a retry).
	Values map[int]float64
}

// Bisect locates the first wrong step of a failed response with S steps by
// binary search over step prefixes (METHOD.md §2.3(2), §3.5.2). Known ends:
// V̂(s_0) = v0 (= |C|/G) and V(s_S) = 0. probe(k) draws M continuations from
// s_k = prompt ⊕ y[:b_k] and returns V̂(s_k) and the continuations. Budget:
// ⌈log₂ S⌉ probes, plus one retry (M more samples, merged with the first) when
// V̂(s_mid) ≤ τ_v and mid = lo+1, where a false zero would decide the answer.
// Assumes monotone values (once wrong, always wrong).
func Bisect(S int, v0 float64, probe func(k int) (value float64, conts []Continuation, err error), cfg BisectConfig) (BisectResult, error) {
	if S < 1 {
		return BisectResult{}, fmt.Errorf("supervise: bisect: S=%d steps, need ≥ 1", S)
	}
	if !(v0 > cfg.TauV) {
		return BisectResult{}, fmt.Errorf("supervise: bisect: V̂(s_0)=%v must exceed τ_v=%v (no correct sample in the group)", v0, cfg.TauV)
	}
	if probe == nil {
		return BisectResult{}, errors.New("supervise: bisect: probe callback is nil")
	}
	res := BisectResult{Values: map[int]float64{}}
	conts := map[int][]Continuation{}
	lo, hi := 0, S
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		v, c, err := probe(mid)
		res.Probes++
		if err != nil {
			return res, fmt.Errorf("supervise: bisect: probe(%d): %w", mid, err)
		}
		if v <= cfg.TauV && mid == lo+1 && !cfg.NoRetry && !res.Retried {
			v2, c2, err := probe(mid)
			res.Probes++
			res.Retried = true
			if err != nil {
				return res, fmt.Errorf("supervise: bisect: retry probe(%d): %w", mid, err)
			}
			v = mergeValues(v, len(c), v2, len(c2))
			c = append(c[:len(c):len(c)], c2...)
		}
		if math.IsNaN(v) || v < 0 || v > 1 {
			return res, fmt.Errorf("supervise: bisect: probe(%d) returned V̂=%v outside [0,1]", mid, v)
		}
		res.Values[mid], conts[mid] = v, c
		if v > cfg.TauV {
			lo = mid
		} else {
			hi = mid
		}
	}
	res.E = hi
	if lo == 0 {
		res.VPrev = v0
	} else {
		res.VPrev = res.Values[lo]
		res.Conts = conts[lo]
	}
	return res, nil
}

// mergeValues averages two MC estimates weighted by their sample counts
// (equal weights when the counts are unknown).
func mergeValues(v1 float64, n1 int, v2 float64, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return (v1 + v2) / 2
	}
	return (v1*float64(n1) + v2*float64(n2)) / float64(n1+n2)
}

// ProbeBudget is the bisection probe budget ⌈log₂ S⌉ (without the retry).
func ProbeBudget(S int) int {
	b := 0
	for 1<<b < S {
		b++
	}
	return b
}

// Candidate is one repair candidate ȳ^(j) as scored by SelectRepair.
type Candidate struct {
	// Audit is h (the audit passed).
	Audit bool
	// Reward is q = R(x, ȳ^(j)).
	Reward float64
	// Dist is Δ̄_edit(y, ȳ^(j)).
	Dist float64
}

// SelectConfig holds the repair selection parameter.
type SelectConfig struct {
	// LambdaEdit is λ_edit (default 0.5, must be < 1 so that every accepted
	// score is > 0 and every rejected one ≤ 0).
	LambdaEdit float64
}

// SelectRepair scores candidates by s = h·(q − λ_edit·Δ̄) (METHOD.md §3.6.1)
// and returns the argmax (first on ties) if it is accepted (h·q = 1), else -1,
// together with every score (the RepairGroup scores of J_rep).
func SelectRepair(cands []Candidate, cfg SelectConfig) (best int, scores []float64) {
	scores = make([]float64, len(cands))
	best = -1
	for j, c := range cands {
		if c.Audit {
			scores[j] = c.Reward - cfg.LambdaEdit*c.Dist
		}
		if best < 0 || scores[j] > scores[best] {
			best = j
		}
	}
	if best >= 0 && !(cands[best].Audit && cands[best].Reward >= 1) {
		best = -1
	}
	return best, scores
}
