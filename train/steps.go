package train

import (
	"strings"

	"github.com/sirl-dev/sirl/hf"
	"github.com/sirl-dev/sirl/task"
	"github.com/sirl-dev/sirl/tokenizer"
)

// Steps and prompts of a run, independent of the vocabulary.
//
// The method needs to know where a response's reasoning steps begin and
// where its answer span starts (VinePPO boundaries, gate scopes, the audit,
// adaptive truncation). That depends on the task, not on the tokenizer: a
// splitter reads the response as the decoded text of each of its tokens,
// so the same rule works for the character vocabulary and for byte-level
// BPE, where one token may hold several characters.

// stepLayout is where the steps and the answer span of a response lie, in
// token indices.
type stepLayout struct {
	step   []int // step[t] is token t's 0-based step
	end    int   // the step of a position past the last token
	starts []int // tokens where a step begins, up to the answer span (0 first)
	answer int   // token where the answer span starts; len(tokens) when none
}

// stepSplitter finds the steps of a response given the decoded text of
// each of its tokens (pieces).
type stepSplitter interface {
	layout(pieces []string) stepLayout
}

// delimSteps is the built-in tasks' grammar "step;step;...;#answer": a
// token holding delim ends its step, the answer span starts at the last
// token holding mark. With the character vocabulary this is exactly the
// comparison with the ids of ';' and '#'.
type delimSteps struct{ delim, mark byte }

func (d delimSteps) layout(pieces []string) stepLayout {
	l := stepLayout{step: make([]int, len(pieces)), starts: []int{0}, answer: len(pieces)}
	k := 0
	for t, p := range pieces {
		l.step[t] = k
		if strings.IndexByte(p, d.delim) >= 0 {
			k++
		}
	}
	l.end = k
	for i, p := range pieces {
		if strings.IndexByte(p, d.mark) >= 0 {
			break
		}
		if strings.IndexByte(p, d.delim) >= 0 && i+1 < len(pieces) {
			l.starts = append(l.starts, i+1)
		}
	}
	for t := len(pieces) - 1; t >= 0; t-- {
		if strings.IndexByte(pieces[t], d.mark) >= 0 {
			l.answer = t
			break
		}
	}
	return l
}

// lineSteps is the math task's grammar: the steps are the non-blank lines
// (task.MathStepSpans) and a token that holds a line's newline belongs to
// that line; the answer span starts at the token where the final answer's
// `\boxed{` (or `\fbox`, or GSM8K's "####") begins, or at the answer itself
// when it is the last number (task.ExtractMathAnswer). Character offsets of
// the decoded text map back to tokens through the cumulative piece lengths.
type lineSteps struct{}

func (lineSteps) layout(pieces []string) stepLayout {
	n := len(pieces)
	off := make([]int, n+1) // off[t]: byte offset of token t in text
	var b strings.Builder
	for t, p := range pieces {
		off[t] = b.Len()
		b.WriteString(p)
	}
	off[n] = b.Len()
	text := b.String()
	spans := task.MathStepSpans(text)
	l := stepLayout{step: make([]int, n), starts: []int{0}, answer: n}
	// The token holding byte i.
	tokenAt := func(i int) int {
		for t := 0; t < n; t++ {
			if i < off[t+1] {
				return t
			}
		}
		return n
	}
	if a := mathAnswerOffset(text); a >= 0 {
		l.answer = tokenAt(a)
	}
	k := 0 // lines that ended before the token
	for t := 0; t < n; t++ {
		for k < len(spans) && spans[k][1] < off[t] {
			k++
		}
		l.step[t] = k
		if t > 0 && k > l.step[t-1] && t <= l.answer {
			l.starts = append(l.starts, t)
		}
	}
	for k < len(spans) && spans[k][1] < len(text) {
		k++
	}
	l.end = k
	return l
}

// mathAnswerOffset is the byte offset where the final answer's span starts
// in a math response: the `\boxed`, `\fbox` or "####" from which
// task.ExtractMathAnswer reads it (the latest such marker), else the last
// occurrence of the answer itself (the last-number rule); -1 when the
// response has no answer.
func mathAnswerOffset(text string) int {
	ans, ok := task.ExtractMathAnswer(text)
	if !ok {
		return -1
	}
	best := -1
	for _, mk := range []string{`\boxed`, `\fbox`, "####"} {
		for end := len(text); ; {
			i := strings.LastIndex(text[:end], mk)
			if i < 0 {
				break
			}
			if a, ok := task.ExtractMathAnswer(text[i:]); ok && a == ans {
				best = max(best, i)
				break
			}
			end = i
		}
	}
	if best >= 0 {
		return best
	}
	return strings.LastIndex(text, ans)
}

// stepsFor picks the splitter of a task.
func stepsFor(t task.Task) stepSplitter {
	if t.Name() == "math" {
		return lineSteps{}
	}
	return delimSteps{delim: task.StepDelim, mark: task.AnswerMark}
}

// layoutOf decodes y token by token and lays out its steps.
func (e *env) layoutOf(y []int32) stepLayout {
	pieces := make([]string, len(y))
	for i, t := range y {
		pieces[i] = e.tok.Decode([]int32{t})
	}
	sp := e.form.steps
	if sp == nil {
		sp = delimSteps{delim: task.StepDelim, mark: task.AnswerMark}
	}
	return sp.layout(pieces)
}

// textForm is how a run writes task text as tokens.
type textForm struct {
	// bpe is the Hugging Face tokenizer of a --model run; nil: the
	// character vocabulary and the templates of METHOD.md §3.2.
	bpe *tokenizer.BPE
	// chat renders prompts for bpe.
	chat tokenizer.ChatTemplate
	// rendered: the task's prompts already went through the chat
	// template (math).
	rendered bool
	// steps finds the steps of a response.
	steps stepSplitter
	// hf records the source folder of a --model run (checkpoint metadata
	// and the <out>/hf export); nil otherwise.
	hf *hf.Source
}

// policyContext is the policy-mode conditioning of a prompt: <bos> prompt
// <sep> with the character vocabulary; with a Hugging Face tokenizer the
// prompt as one user turn of the chat template with the generation prompt
// (math prompts arrive rendered), encoded with its special markers.
func (e *env) policyContext(prompt string) []int32 {
	if e.form.bpe == nil {
		return tokenizer.PolicyPrompt(e.tok, prompt)
	}
	if !e.form.rendered {
		prompt = tokenizer.RenderChat(e.form.chat, []tokenizer.Message{{Role: "user", Content: prompt}}, true)
	}
	return e.form.bpe.EncodeWithSpecial(prompt)
}

// repairContext is the repair-mode conditioning. The character vocabulary
// has the special tokens of METHOD.md §3.2 (tokenizer.RepairPrompt); a
// Hugging Face model has none, so its repair prompt is one user turn of the
// chat template that states the task in words (BPERepairMessage).
func (e *env) repairContext(p task.Problem, failed, anchor string) []int32 {
	if e.form.bpe == nil {
		return tokenizer.RepairPrompt(e.tok, p.Prompt, failed, anchor)
	}
	msg := BPERepairMessage(problemText(p), failed, anchor)
	return e.form.bpe.EncodeWithSpecial(tokenizer.RenderChat(e.form.chat, []tokenizer.Message{{Role: "user", Content: msg}}, true))
}

// BPERepairMessage is the user message of the repair mode for Hugging Face
// models: the problem, the failed solution, a correct reference and the
// instruction to rewrite the failure with the fewest changes. The model's
// answer (the repaired solution) follows the chat template's generation
// prompt and ends with EOS, as a policy response does.
func BPERepairMessage(problem, failed, reference string) string {
	return "Problem: " + problem + "\nFailed solution: " + failed + "\nReference solution: " + reference +
		"\nRewrite the failed solution with the fewest changes so that it is correct."
}

// problemText is a problem's statement without chat markup: the user turns
// of a math problem, the prompt of the others.
func problemText(p task.Problem) string {
	it, ok := p.Data.(task.MathItem)
	if !ok {
		return p.Prompt
	}
	var parts []string
	for _, m := range it.Messages {
		if m.Role == "user" {
			parts = append(parts, m.Content)
		}
	}
	if len(parts) == 0 {
		return p.Prompt
	}
	return strings.Join(parts, "\n")
}
