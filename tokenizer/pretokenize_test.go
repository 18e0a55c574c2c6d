package tokenizer

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitRules(t *testing.T) {
	qwen, llama, gpt2 := splitRule{maxDigits: 1}, splitRule{maxDigits: 3}, splitRule{gpt2: true}
	cases := []struct {
		name string
		rule splitRule
		in   string
		want []string
	}{
		{"qwen words", qwen, "Hello world!!\n\n  foo   bar  ", []string{"Hello", " world", "!!\n\n", " ", " foo", "  ", " bar", "  "}},
		{"qwen contractions", qwen, "it's IT'S we'Re 'sup", []string{"it", "'s", " IT", "'S", " we", "'Re", " '", "sup"}},
		{"qwen crlf", qwen, "a\r\nb", []string{"a", "\r\n", "b"}},
		{"qwen spaces before newline", qwen, "x  \n  y", []string{"x", "  \n", " ", " y"}},
		{"qwen digits", qwen, "3.14 2024", []string{"3", ".", "1", "4", " ", "2", "0", "2", "4"}},
		{"qwen punct with newline", qwen, "end.\r\n\nnext", []string{"end", ".\r\n\n", "next"}},
		{"qwen space punct", qwen, "a (b) c", []string{"a", " (", "b", ")", " c"}},
		{"qwen punct letter", qwen, "(word", []string{"(word"}},
		{"qwen tab punct", qwen, "\t(", []string{"\t", "("}},
		{"qwen newline letter", qwen, "\nabc", []string{"\n", "abc"}},
		{"qwen cjk", qwen, "你好，世界", []string{"你好", "，世界"}},
		{"qwen emoji", qwen, "hi 👋🏽!", []string{"hi", " 👋🏽!"}},
		{"qwen trailing single space", qwen, "a ", []string{"a", " "}},
		{"qwen nbsp", qwen, "a\u00a0\u00a0b", []string{"a", "\u00a0", "\u00a0b"}},
		{"llama digits", llama, "12345 3.14", []string{"123", "45", " ", "3", ".", "14"}},
		{"gpt2 basic", gpt2, "Hello world 2024!! ok", []string{"Hello", " world", " 2024", "!!", " ok"}},
		{"gpt2 case-sensitive contraction", gpt2, "IT'S it's", []string{"IT", "'", "S", " it", "'s"}},
		{"gpt2 spaces", gpt2, "a   b\n\n c", []string{"a", "  ", " b", "\n\n", " c"}},
		{"gpt2 newline letters", gpt2, "\nabc", []string{"\n", "abc"}},
		{"invalid utf8", qwen, "a\xffb", []string{"a", "\xffb"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.rule.split(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
			}
			if strings.Join(got, "") != c.in {
				t.Errorf("pieces do not cover the input")
			}
		})
	}
}

func TestSplitRuleFor(t *testing.T) {
	for _, p := range []string{PatternQwen2, PatternLlama3, PatternGPT2} {
		if _, err := splitRuleFor(p); err != nil {
			t.Errorf("splitRuleFor(%.20q): %v", p, err)
		}
	}
	if _, err := splitRuleFor(`\w+|\s+`); err == nil {
		t.Errorf("unknown pattern accepted")
	}
}

func TestByteLevelAlphabet(t *testing.T) {
	m := byteLevelAlphabet()
	seen := map[rune]bool{}
	for b, r := range m {
		if seen[r] {
			t.Fatalf("rune %q used twice", r)
		}
		seen[r] = true
		if b == ' ' && r != 'Ġ' || b == '\n' && r != 'Ċ' || b == 'a' && r != 'a' || b == 0 && r != 'Ā' {
			t.Errorf("byte 0x%02x maps to %q", b, r)
		}
	}
}

func FuzzSplitCovers(f *testing.F) {
	for _, s := range []string{"Hello world!!\n\n  foo", "it's 3.14 你好 👋🏽", "\r\n \t\u00a0x", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range []splitRule{{maxDigits: 1}, {maxDigits: 3}, {gpt2: true}} {
			pieces := r.split(s)
			if strings.Join(pieces, "") != s {
				t.Fatalf("pieces %q do not cover %q", pieces, s)
			}
			for _, p := range pieces {
				if p == "" {
					t.Fatalf("empty piece in %q", pieces)
				}
			}
		}
	})
}
