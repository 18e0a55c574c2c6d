package supervise

// Audit rule names, as reported by Audit and logged per rule (§3.15).
const (
	RuleWellFormed     = "wellformed"
	RuleAnswerOnly     = "answer_only"
	RuleTooFar         = "too_far"
	RuleForeignSymbols = "foreign_symbols"
	RuleBrokenCopy     = "broken_copy"
	RuleStepCheck      = "step_check"
	RuleForm           = "form"
)

// AuditInput is everything the deterministic audit h of METHOD.md §3.6.1
// looks at for one repair candidate ȳ of a failure y.
type AuditInput struct {
	Prompt   string
	Failed   string // y, decoded
	Repaired string // ȳ, decoded
	// FailedTokens and RepairedTokens are y and ȳ as token ids.
	FailedTokens, RepairedTokens []int32
	// Script is Diff(FailedTokens, RepairedTokens).
	Script EditScript
	// AnswerStartY and AnswerStartYb are the token indices where the answer
	// span ("#...") begins in y and ȳ. A negative value means "no answer
	// span" (no op is then inside the span); len(tokens) is an empty span at
	// the end (only insertions at the very end can fall inside it).
	AnswerStartY, AnswerStartYb int
	// WellFormed is the task grammar check of ȳ (task.Task.WellFormed bound
	// to the problem). Nil skips the grammar part of rule "wellformed".
	WellFormed func(response string) bool
	// FromPrompt reports whether every number/symbol of the repair that must
	// come from the prompt does (rule "foreign_symbols", a task option). Nil
	// disables the rule.
	FromPrompt func(prompt, repaired string) bool
	// KeepsCopies reports whether the repair keeps the spans the failure
	// copied verbatim from the prompt (rule "broken_copy", a task option).
	// Nil disables the rule.
	KeepsCopies func(failed, repaired string) bool
	// CheckSteps is a step checker the user declared for the task (rule
	// "step_check"): every step of the repair holds. Nil disables the rule.
	CheckSteps func(repaired string) bool
	// SameForm reports whether the repair has its anchor's form (rule
	// "form", a task option for data with one form per problem). Nil
	// disables the rule.
	SameForm func(repaired string) bool
}

// AuditConfig holds the audit thresholds.
type AuditConfig struct {
	// DeltaMax is δ_max: repairs with Δ̄_edit > DeltaMax fail "too_far"
	// (default 0.9).
	DeltaMax float64
	// MaxLen is L_max in tokens for ȳ (0 = no length limit).
	MaxLen int
}

// DefaultAuditConfig returns δ_max = 0.9 and no length limit.
func DefaultAuditConfig() AuditConfig { return AuditConfig{DeltaMax: 0.9} }

// Audit is the deterministic audit h of METHOD.md §3.6.1. It returns ok = true
// (h = 1) when every rule holds, else false and the name of the first rule
// that failed, checked in this order:
//
//	wellformed       ȳ parses in the task grammar and has at most MaxLen tokens;
//	answer_only      the script touches at least one token outside the answer
//	                 span (an empty script fails here too);
//	too_far          Δ̄_edit(y, ȳ) ≤ DeltaMax;
//	foreign_symbols  (only when FromPrompt is set) symbols come from the prompt;
//	broken_copy      (only when KeepsCopies is set) the edit keeps what the
//	                 failure copied verbatim from the prompt;
//	step_check       (only when CheckSteps is set) every step holds by the
//	                 user's step checker;
//	form             (only when SameForm is set) the repair has its
//	                 anchor's form.
//
// It uses no process labels; the "off" and "oracle" audit ablations are the
// caller's business.
func Audit(in AuditInput, cfg AuditConfig) (ok bool, rule string) {
	if cfg.MaxLen > 0 && len(in.RepairedTokens) > cfg.MaxLen {
		return false, RuleWellFormed
	}
	if in.WellFormed != nil && !in.WellFormed(in.Repaired) {
		return false, RuleWellFormed
	}
	if CountedOps(in.Script.Ops, in.AnswerStartY, in.AnswerStartYb) == 0 {
		return false, RuleAnswerOnly
	}
	if in.Script.NormDistance() > cfg.DeltaMax {
		return false, RuleTooFar
	}
	if in.FromPrompt != nil && !in.FromPrompt(in.Prompt, in.Repaired) {
		return false, RuleForeignSymbols
	}
	if in.KeepsCopies != nil && !in.KeepsCopies(in.Failed, in.Repaired) {
		return false, RuleBrokenCopy
	}
	if in.CheckSteps != nil && !in.CheckSteps(in.Repaired) {
		return false, RuleStepCheck
	}
	if in.SameForm != nil && !in.SameForm(in.Repaired) {
		return false, RuleForm
	}
	return true, ""
}

// InAnswerSpan reports whether op lies inside the answer span on both sides:
// its y position is at or after answerStartY and its yb position at or after
// answerStartYb. A negative start means no answer span on that side (nothing
// is inside it). Because ops are ordered in both I and J, the answer-span ops
// of a script are always a tail of it.
func InAnswerSpan(op Op, answerStartY, answerStartYb int) bool {
	if answerStartY < 0 || answerStartYb < 0 {
		return false
	}
	return op.I >= answerStartY && op.J >= answerStartYb
}

// CountedOps is the number of ops outside the answer span: the ops that count
// towards the truncation budget K (§3.7) and towards rule "answer_only".
func CountedOps(ops []Op, answerStartY, answerStartYb int) int {
	c := 0
	for _, op := range ops {
		if !InAnswerSpan(op, answerStartY, answerStartYb) {
			c++
		}
	}
	return c
}
