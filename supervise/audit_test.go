package supervise

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// answerStart is the index of the answer marker '#' (-1 if none).
func answerStart(s string) int { return strings.LastIndexByte(s, '#') }

// wellFormed is a toy grammar: exactly one '#', after a ';', at least one digit after it.
func wellFormed(s string) bool {
	i := strings.IndexByte(s, '#')
	return i > 0 && s[i-1] == ';' && strings.Count(s, "#") == 1 && i < len(s)-1
}

func auditInput(prompt, y, yb string) AuditInput {
	yt, ybt := toks(y), toks(yb)
	return AuditInput{
		Prompt: prompt, Failed: y, Repaired: yb,
		FailedTokens: yt, RepairedTokens: ybt,
		Script:       Diff(yt, ybt),
		AnswerStartY: answerStart(y), AnswerStartYb: answerStart(yb),
		WellFormed: wellFormed,
	}
}

func TestAudit(t *testing.T) {
	digitsFromPrompt := func(prompt, rep string) bool {
		for _, c := range rep {
			if c == '9' && !strings.ContainsRune(prompt, c) {
				return false
			}
		}
		return true
	}
	cases := []struct {
		name    string
		y, yb   string
		cfg     AuditConfig
		foreign bool
		ok      bool
		rule    string
	}{
		{"good repair", "8*2=17;17-7=10;#10", "8*2=16;16-7=9;#9", DefaultAuditConfig(), false, true, ""},
		{"malformed", "8*2=17;#17", "8*2=16;#16#", DefaultAuditConfig(), false, false, RuleWellFormed},
		{"too long", "8*2=17;#17", "8*2=16;#16", AuditConfig{DeltaMax: 0.9, MaxLen: 5}, false, false, RuleWellFormed},
		{"answer only", "8*2=17;#17", "8*2=17;#16", DefaultAuditConfig(), false, false, RuleAnswerOnly},
		{"answer only, longer answer", "1;#7", "1;#16", DefaultAuditConfig(), false, false, RuleAnswerOnly},
		{"no edit", "1;#7", "1;#7", DefaultAuditConfig(), false, false, RuleAnswerOnly},
		{"too far", "1+1=3;#3", "4*5=20;#20", AuditConfig{DeltaMax: 0.5}, false, false, RuleTooFar},
		{"within delta", "1+1=3;#3", "1+1=2;#2", AuditConfig{DeltaMax: 0.5}, false, true, ""},
		{"foreign symbol", "1+1=3;#3", "1+9=2;#2", DefaultAuditConfig(), true, false, RuleForeignSymbols},
		{"foreign rule off", "1+1=3;#3", "1+9=2;#2", DefaultAuditConfig(), false, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := auditInput("1+1", c.y, c.yb)
			if c.foreign {
				in.FromPrompt = digitsFromPrompt
			}
			ok, rule := Audit(in, c.cfg)
			if ok != c.ok || rule != c.rule {
				t.Fatalf("Audit = %v %q, want %v %q", ok, rule, c.ok, c.rule)
			}
		})
	}
}

// TestAuditOptionalRules: the task options broken_copy, step_check and
// form reject what they name and nothing when unset.
func TestAuditOptionalRules(t *testing.T) {
	keeps := func(y, r string) bool { return !strings.Contains(y, "+1") || strings.Contains(r, "+1") }
	holds := func(r string) bool { return !strings.Contains(r, "1+1=3") }
	sameForm := func(r string) bool { return !strings.Contains(r, "1+2") }
	cases := []struct {
		name                string
		y, yb               string
		copies, check, form bool
		ok                  bool
		rule                string
	}{
		{"broken copy", "1+1=3;#3", "1+2=3;#3", true, false, false, false, RuleBrokenCopy},
		{"copy kept", "1+1=3;#3", "1+1=2;#2", true, true, false, true, ""},
		{"copy rule off", "1+1=3;#3", "1+2=3;#3", false, false, false, true, ""},
		{"step fails", "1+1=4;#4", "1+1=3;#3", false, true, false, false, RuleStepCheck},
		{"step rule off", "1+1=4;#4", "1+1=3;#3", false, false, false, true, ""},
		{"form differs", "1+1=4;#4", "1+2=3;#3", false, true, true, false, RuleForm},
		{"form agrees", "1+1=4;#4", "1+1=2;#2", false, true, true, true, ""},
		{"form rule off", "1+1=4;#4", "1+2=3;#3", false, true, false, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := auditInput("1+1", c.y, c.yb)
			if c.copies {
				in.KeepsCopies = keeps
			}
			if c.check {
				in.CheckSteps = holds
			}
			if c.form {
				in.SameForm = sameForm
			}
			ok, rule := Audit(in, DefaultAuditConfig())
			if ok != c.ok || rule != c.rule {
				t.Fatalf("Audit = %v %q, want %v %q", ok, rule, c.ok, c.rule)
			}
		})
	}
}

// Answer-span ops always form a tail of an ordered script.
func TestAnswerSpanOpsAreATail(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for it := 0; it < 2000; it++ {
		y, yb := randPair(rng)
		es := Diff(y, yb)
		aY, aYb := rng.IntN(len(y)+2)-1, rng.IntN(len(yb)+2)-1
		inside := false
		for _, op := range es.Ops {
			in := InAnswerSpan(op, aY, aYb)
			if inside && !in {
				t.Fatalf("op %v outside the answer span (%d,%d) after an inside one: %v", op, aY, aYb, es.Ops)
			}
			inside = in
		}
	}
}
