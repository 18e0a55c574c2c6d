package tokenizer

import "fmt"

// The templates of METHOD.md §3.2:
//
//	policy mode:  <bos> x <sep> y <eos>
//	repair mode:  <bos> <rep> x <fail> y <ref> a <fix> ȳ <eos>
//
// The helpers below build the conditioning part (everything the model reads
// before it writes) and the response part (the text followed by <eos>). They
// panic when the tokenizer lacks a special token: call CheckSpecials once when
// a tokenizer is loaded to turn that into an error.

// templateSpecials are the special tokens the templates need.
func templateSpecials() []string { return []string{BOS, EOS, Sep, Rep, Fail, Ref, Fix} }

// CheckSpecials returns an error naming the first special token of the
// templates that t lacks.
func CheckSpecials(t Tokenizer) error {
	for _, name := range templateSpecials() {
		if _, ok := t.Special(name); !ok {
			return fmt.Errorf("tokenizer lacks the special token %s needed by the policy and repair templates", name)
		}
	}
	return nil
}

// mustSpecial returns the id of a special token or panics.
func mustSpecial(t Tokenizer, name string) int32 {
	id, ok := t.Special(name)
	if !ok {
		panic(fmt.Sprintf("tokenizer: special token %s missing (call CheckSpecials when loading the tokenizer)", name))
	}
	return id
}

// PolicyPrompt is the policy-mode conditioning: <bos> prompt <sep>.
func PolicyPrompt(t Tokenizer, prompt string) []int32 {
	enc := t.Encode(prompt)
	out := make([]int32, 0, len(enc)+2)
	out = append(out, mustSpecial(t, BOS))
	out = append(out, enc...)
	return append(out, mustSpecial(t, Sep))
}

// RepairPrompt is the repair-mode conditioning:
// <bos> <rep> prompt <fail> failed <ref> anchor <fix>.
func RepairPrompt(t Tokenizer, prompt, failed, anchor string) []int32 {
	p, f, a := t.Encode(prompt), t.Encode(failed), t.Encode(anchor)
	out := make([]int32, 0, len(p)+len(f)+len(a)+5)
	out = append(out, mustSpecial(t, BOS), mustSpecial(t, Rep))
	out = append(out, p...)
	out = append(out, mustSpecial(t, Fail))
	out = append(out, f...)
	out = append(out, mustSpecial(t, Ref))
	out = append(out, a...)
	return append(out, mustSpecial(t, Fix))
}

// Response is the generated part of either template: response <eos>.
func Response(t Tokenizer, response string) []int32 {
	enc := t.Encode(response)
	return append(enc, mustSpecial(t, EOS))
}

// PolicyExample is a whole policy-mode sequence, <bos> prompt <sep> response
// <eos>, and the number of conditioning tokens (the response starts there).
func PolicyExample(t Tokenizer, prompt, response string) (ids []int32, promptLen int) {
	ids = PolicyPrompt(t, prompt)
	promptLen = len(ids)
	return append(ids, Response(t, response)...), promptLen
}

// RepairExample is a whole repair-mode sequence, <bos> <rep> prompt <fail>
// failed <ref> anchor <fix> repaired <eos>, and the number of conditioning
// tokens (the repaired trace starts there).
func RepairExample(t Tokenizer, prompt, failed, anchor, repaired string) (ids []int32, promptLen int) {
	ids = RepairPrompt(t, prompt, failed, anchor)
	promptLen = len(ids)
	return append(ids, Response(t, repaired)...), promptLen
}
