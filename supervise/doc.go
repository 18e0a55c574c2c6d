// Package supervise is the model-free core of SIRL (METHOD.md §3.4–§3.11): it
// turns a failed trajectory and a successful alternative into token-level
// learning signals.
//
//   - identify: Levenshtein edit scripts (Diff), sibling divergence (Sibling),
//     Monte-Carlo bisection over step prefixes (Bisect);
//   - correct: the deterministic audit (Audit) and repair selection
//     (SelectRepair);
//   - reuse: adaptive truncation (Truncate), gates and token advantages
//     (Gates, PairAdvantages, BuildPair, MCGated), loss weights
//     (TokenWeights), the gated sequence-ratio loss (SeqRatioLoss) and the
//     replay pool (Pool).
//
// Everything that needs the model (sampling, greedy continuation, log-probs,
// verification) enters through callbacks that the RL loop supplies, so the
// package is tested without a model.
//
// Conventions. Sequences are response token ids only (no prompt, no special
// tokens, no <eos>). Token positions are 0-based indices into such a slice.
// Step structure is never inferred from token ids: where a step is needed the
// caller supplies a StepOf function mapping a token index to its 0-based step
// index (with the character tokenizer of the built-in tasks token index ==
// character index, and StepsByDelimiter builds that mapping). METHOD.md counts
// steps from 1 (e = first wrong step, s_k = prefix through step k); where this
// package returns such a step it says so.
package supervise
