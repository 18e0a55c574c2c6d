package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// noSpecials is a tokenizer without special tokens.
type noSpecials struct{ *Char }

func (noSpecials) Special(string) (int32, bool) { return 0, false }

func TestPolicyTemplate(t *testing.T) {
	c := NewChar()
	prompt, resp := "3 +5 %97", "3+5=8;#8"
	p := PolicyPrompt(c, prompt)
	if got := c.Decode(p); got != BOS+prompt+Sep {
		t.Errorf("PolicyPrompt decodes to %q", got)
	}
	if len(p) != len(prompt)+2 {
		t.Errorf("PolicyPrompt has %d ids, want %d", len(p), len(prompt)+2)
	}
	ids, n := PolicyExample(c, prompt, resp)
	if n != len(p) || !slices.Equal(ids[:n], p) {
		t.Errorf("PolicyExample prompt part %v, want %v", ids[:n], p)
	}
	if got := c.Decode(ids[n:]); got != resp+EOS {
		t.Errorf("PolicyExample response decodes to %q", got)
	}
	if !slices.Equal(ids[n:], Response(c, resp)) {
		t.Error("PolicyExample response differs from Response")
	}
}

func TestRepairTemplate(t *testing.T) {
	c := NewChar()
	prompt, failed, anchor, fixed := "3 +5 *2 %97", "3+5=9;9*2=18;#18", "3+5=8;8*2=16;#16", "3+5=8;8*2=16;#16"
	p := RepairPrompt(c, prompt, failed, anchor)
	want := BOS + Rep + prompt + Fail + failed + Ref + anchor + Fix
	if got := c.Decode(p); got != want {
		t.Errorf("RepairPrompt decodes to %q, want %q", got, want)
	}
	if len(p) != len(prompt)+len(failed)+len(anchor)+5 {
		t.Errorf("RepairPrompt has %d ids", len(p))
	}
	bos, _ := c.Special(BOS)
	rep, _ := c.Special(Rep)
	fix, _ := c.Special(Fix)
	if p[0] != bos || p[1] != rep || p[len(p)-1] != fix {
		t.Errorf("RepairPrompt frame %v", p)
	}
	ids, n := RepairExample(c, prompt, failed, anchor, fixed)
	if n != len(p) || c.Decode(ids[n:]) != fixed+EOS {
		t.Errorf("RepairExample = %q (prompt len %d)", c.Decode(ids), n)
	}
}

func TestTemplateMissingSpecial(t *testing.T) {
	tok := noSpecials{NewChar()}
	err := CheckSpecials(tok)
	if err == nil || !strings.Contains(err.Error(), BOS) {
		t.Fatalf("CheckSpecials = %v, want an error naming %s", err, BOS)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("PolicyPrompt without specials did not panic")
		}
	}()
	PolicyPrompt(tok, "1")
}
