package tokenizer

import (
	"strings"
	"testing"
)

func TestRenderChat(t *testing.T) {
	conv := []Message{{Role: "user", Content: "What is 2+2?"}}
	withSys := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello."}}
	mustTpl := func(name string) ChatTemplate {
		tpl, err := ChatTemplateByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return tpl
	}
	custom := ChatML()
	custom.Roles = map[string]string{"user": "human", "assistant": "gpt"}
	custom.DefaultSystem = "SYS"
	cases := []struct {
		name string
		tpl  ChatTemplate
		msgs []Message
		gen  bool
		want string
	}{
		{"chatml gen", ChatML(), conv, true,
			"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"},
		{"chatml no gen", ChatML(), conv, false,
			"<|im_start|>user\nWhat is 2+2?<|im_end|>\n"},
		{"chatml system", ChatML(), withSys, false,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"},
		{"qwen2.5 default system", mustTpl("qwen2.5"), conv, true,
			"<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
				"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"},
		{"qwen2.5 keeps given system", mustTpl("qwen2.5"), withSys[:2], false,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"},
		{"qwen3-nothink", mustTpl("qwen3-nothink"), conv, true,
			"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"custom roles", custom, conv, true,
			"<|im_start|>system\nSYS<|im_end|>\n<|im_start|>human\nWhat is 2+2?<|im_end|>\n<|im_start|>gpt\n"},
		{"plain", PlainTemplate(), conv, true, "What is 2+2?"},
		{"plain multi", mustTpl("plain"), withSys, true, "Be brief.\nHi\nHello."},
		{"empty", ChatML(), nil, true, "<|im_start|>assistant\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RenderChat(c.tpl, c.msgs, c.gen); got != c.want {
				t.Errorf("RenderChat =\n%q\nwant\n%q", got, c.want)
			}
		})
	}
	if _, err := ChatTemplateByName("llama9"); err == nil || !strings.Contains(err.Error(), "chatml") {
		t.Errorf("unknown template: %v", err)
	}
}

// TestRenderChatTokens checks that a rendered ChatML prompt encodes with
// the role markers as single special tokens.
func TestRenderChatTokens(t *testing.T) {
	tok := tiny(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1})
	s := RenderChat(ChatML(), []Message{{Role: "user", Content: "hello"}}, true)
	ids := tok.EncodeWithSpecial(s)
	count := map[int32]int{}
	for _, id := range ids {
		count[id]++
	}
	if count[300] != 2 || count[301] != 1 {
		t.Errorf("ids %v: want <|im_start|> twice and <|im_end|> once", ids)
	}
	if tok.Decode(ids) != s {
		t.Errorf("round trip of the rendered chat failed")
	}
}
