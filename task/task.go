// Package task holds the verifiable reasoning tasks: seeded generators with a
// difficulty knob, step marking, answer extraction, exact verifiers, oracle
// first-wrong-step checkers (evaluation only) and error injectors.
//
// Every trace has the form "step;step;...;#answer": steps are separated by
// StepDelim and the answer follows AnswerMark.
package task

import "math/rand/v2"

// StepDelim separates steps in a trace.
const StepDelim = ';'

// AnswerMark starts the answer span of a trace.
const AnswerMark = '#'

// Problem is one instance: the prompt text, its canonical solution trace and
// the expected final answer. Data carries what the verifier and the oracle
// need (task specific, opaque to callers).
type Problem struct {
	Prompt   string `json:"prompt"`
	Solution string `json:"solution"`
	Answer   string `json:"answer"`
	// Difficulty is the knob value the generator used (e.g. number of ops).
	Difficulty int `json:"difficulty"`
	Data       any `json:"-"`
}

// Task is one task family.
type Task interface {
	// Name is the config name ("t1", "t2", "t4", "t7", "jsonl", ...).
	Name() string
	// Generate makes one problem of the given difficulty from rng.
	Generate(rng *rand.Rand, difficulty int) Problem
	// Reward is the outcome reward of a response (the text after the prompt,
	// without special tokens): 1 if correct, 0 otherwise.
	Reward(p Problem, response string) float64
	// WellFormed reports whether a response parses in the task grammar
	// (steps parse, exactly one answer marker, answer last). Used by the audit.
	WellFormed(p Problem, response string) bool
	// FirstWrongStep is the oracle: the 0-based index of the first wrong step
	// of response, len(steps) if the steps are right but the answer is wrong
	// or missing, and -1 if everything is right. Evaluation and ablations only.
	FirstWrongStep(p Problem, response string) int
	// InjectError corrupts step k of a correct trace and re-derives every
	// later step from the corrupted value. ok is false when step k cannot be
	// corrupted (e.g. k out of range).
	InjectError(rng *rand.Rand, p Problem, k int) (trace string, ok bool)
}

// Steps splits a response into its steps (the answer span, "#...", is the
// last element when present).
func Steps(response string) []string {
	var out []string
	start := 0
	for i := 0; i < len(response); i++ {
		if response[i] == StepDelim {
			out = append(out, response[start:i])
			start = i + 1
		}
	}
	if start < len(response) {
		out = append(out, response[start:])
	}
	return out
}

// ExtractAnswer returns the text after the last answer marker.
func ExtractAnswer(response string) (string, bool) {
	for i := len(response) - 1; i >= 0; i-- {
		if response[i] == AnswerMark {
			return response[i+1:], true
		}
	}
	return "", false
}
