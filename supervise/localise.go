package supervise

// FirstGatedStep is the 0-based step of the first token with a non-zero gate,
// or -1 when nothing is gated: the predicted first wrong step that
// localisation precision compares with the task's oracle.
func FirstGatedStep(gate []float32, stepOf func(int) int) int {
	for t, g := range gate {
		if g != 0 {
			return stepOf(t)
		}
	}
	return -1
}

// Precision accumulates localisation precision (METHOD.md §3.15):
// P(first gated step = oracle first wrong step), evaluation only.
type Precision struct {
	// Hits counts predictions equal to the oracle; Total counts scored
	// pairs; Skipped counts pairs whose oracle was -1 (nothing wrong, e.g. a
	// failure the oracle does not see), which are not scored.
	Hits, Total, Skipped int
}

// Add scores one prediction against the oracle first wrong step (both
// 0-based step indices; predicted -1 = nothing gated, always a miss).
func (p *Precision) Add(predicted, oracle int) {
	if oracle < 0 {
		p.Skipped++
		return
	}
	p.Total++
	if predicted == oracle {
		p.Hits++
	}
}

// Value is Hits/Total (0 when nothing was scored).
func (p Precision) Value() float64 {
	if p.Total == 0 {
		return 0
	}
	return float64(p.Hits) / float64(p.Total)
}

// Reset clears the counts (one accumulator per logging window).
func (p *Precision) Reset() { *p = Precision{} }

// StepsByDelimiter returns a StepOf mapping for a tokenised response whose
// step delimiter is a single token (true of the character tokenizer of the
// built-in tasks): the delimiter belongs to the step it ends, so the steps
// are those of task.Steps (in a well-formed trace the answer span "#..."
// follows the last delimiter and is the last step). Indices outside the
// response are clamped to it.
func StepsByDelimiter(tokens []int32, delim int32) func(int) int {
	steps := make([]int, len(tokens))
	k := 0
	for t, v := range tokens {
		steps[t] = k
		if v == delim {
			k++
		}
	}
	return func(t int) int {
		if len(steps) == 0 {
			return 0
		}
		return steps[min(max(t, 0), len(steps)-1)]
	}
}
