package supervise

import "fmt"

// Truncate is the verification-based adaptive truncation of METHOD.md §3.7.
// ops is the edit script S_∞ (ordered, as Diff returns it); ops inside the
// answer span (InAnswerSpan) never count towards K. It returns K*, the number
// of leading ops to gate (ops[:Kstar]), and the number of verify calls made.
//
// Let C be the number of counted ops. Then
//
//	K ≤ 0 (truncation: off) or C ≤ K  →  K* = len(ops), no check;
//	verify(K) = true                  →  K* = K;
//	verify(min(2K, C)) = true         →  K* = min(2K, C);
//	otherwise                         →  K* = len(ops).
//
// verify(k) must return R(x, ŷ^(k)), the reward of the grafted trajectory
// ȳ[:RepairPrefixLen(ops, k, len(ȳ))] ⊕ greedy policy continuation. Because
// answer-span ops are always a tail of an ordered script, the first k counted
// ops are exactly ops[:k]. An error from verify is returned as is (wrapped).
func Truncate(ops []Op, answerStartY, answerStartYb int, K int, verify func(k int) (bool, error)) (Kstar int, checks int, err error) {
	c := CountedOps(ops, answerStartY, answerStartYb)
	for k := c; k < len(ops); k++ {
		if !InAnswerSpan(ops[k], answerStartY, answerStartYb) {
			return 0, 0, fmt.Errorf("supervise: truncate: op %d lies outside the answer span after answer-span ops (script not ordered)", k)
		}
	}
	if K <= 0 || c <= K {
		return len(ops), 0, nil
	}
	if verify == nil {
		return 0, 0, fmt.Errorf("supervise: truncate: verify callback is nil")
	}
	for _, k := range []int{K, min(2*K, c)} {
		ok, err := verify(k)
		checks++
		if err != nil {
			return 0, checks, fmt.Errorf("supervise: truncate: verify(%d): %w", k, err)
		}
		if ok {
			return k, checks, nil
		}
	}
	return len(ops), checks, nil
}

// RepairPrefixLen is the length of the shortest prefix of ȳ that holds every
// ȳ token the first k ops of an ordered script touch or gate (§3.8): ȳ[J] of
// a substitution or insertion, and ȳ[J] at the deletion point of a deletion
// (the action ȳ takes instead of the deleted token), capped at len(ȳ) = M;
// 0 for k = 0. The graft ŷ^(k) of §3.7 is ȳ[:RepairPrefixLen(ops, k, M)]
// followed by the greedy policy continuation.
func RepairPrefixLen(ops []Op, k, M int) int {
	if k <= 0 || len(ops) == 0 {
		return 0
	}
	return min(ops[min(k, len(ops))-1].J+1, M)
}
