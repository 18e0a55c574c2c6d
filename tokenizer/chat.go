package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// Message is one chat turn, as in the chat-format columns of verl and TRL
// data sets.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatTemplate renders chat messages into prompt text (see ChatML,
// PlainTemplate and ChatTemplateByName).
type ChatTemplate struct {
	// Name is the config name ("chatml", "qwen2.5", "qwen3", "plain", ...).
	Name string
	// Plain joins the message contents with PlainSep and nothing else.
	Plain    bool
	PlainSep string
	// A turn is TurnStart + role + RoleSep + content + TurnEnd.
	TurnStart string
	RoleSep   string
	TurnEnd   string
	// Roles renames roles in the output (e.g. "user" to "human"); a role
	// missing here is written as is.
	Roles map[string]string
	// DefaultSystem is the system message used when the messages have none
	// (empty: no system turn).
	DefaultSystem string
	// AssistantRole is the role of the generation prompt ("assistant").
	AssistantRole string
	// GenerationPrefix follows the generation prompt's header, e.g. the empty
	// think block "<think>\n\n</think>\n\n" of Qwen3 with thinking off.
	GenerationPrefix string
}

// ChatML returns the ChatML template of Qwen:
// "<|im_start|>role\ncontent<|im_end|>\n" per turn.
func ChatML() ChatTemplate {
	return ChatTemplate{
		Name:          "chatml",
		TurnStart:     "<|im_start|>",
		RoleSep:       "\n",
		TurnEnd:       "<|im_end|>\n",
		AssistantRole: "assistant",
	}
}

// PlainTemplate returns the template that is just the text: message
// contents joined by newlines, no role tags, no generation prompt.
func PlainTemplate() ChatTemplate {
	return ChatTemplate{Name: "plain", Plain: true, PlainSep: "\n"}
}

// ChatTemplateByName returns a named template: "plain", "chatml",
// "qwen2.5" (ChatML with Qwen2.5's default system prompt), "qwen3" (ChatML)
// and "qwen3-nothink" (ChatML with an empty think block after the
// generation prompt, like enable_thinking=False).
func ChatTemplateByName(name string) (ChatTemplate, error) {
	t := ChatML()
	switch name {
	case "plain", "":
		return PlainTemplate(), nil
	case "chatml", "qwen3":
	case "qwen2.5":
		t.DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
	case "qwen3-nothink":
		t.GenerationPrefix = "<think>\n\n</think>\n\n"
	default:
		names := []string{"chatml", "plain", "qwen2.5", "qwen3", "qwen3-nothink"}
		sort.Strings(names)
		return ChatTemplate{}, fmt.Errorf("unknown chat template %q (known: %s)", name, strings.Join(names, ", "))
	}
	t.Name = name
	return t, nil
}

// RenderChat renders msgs with tpl. With addGenerationPrompt the text ends
// with the header of an assistant turn (and GenerationPrefix), ready for the
// model to continue. A system message is added from DefaultSystem when msgs
// has none.
func RenderChat(tpl ChatTemplate, msgs []Message, addGenerationPrompt bool) string {
	if tpl.DefaultSystem != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		msgs = append([]Message{{Role: "system", Content: tpl.DefaultSystem}}, msgs...)
	}
	var b strings.Builder
	if tpl.Plain {
		for i, m := range msgs {
			if i > 0 {
				b.WriteString(tpl.PlainSep)
			}
			b.WriteString(m.Content)
		}
		return b.String()
	}
	role := func(r string) string {
		if s, ok := tpl.Roles[r]; ok {
			return s
		}
		return r
	}
	for _, m := range msgs {
		b.WriteString(tpl.TurnStart)
		b.WriteString(role(m.Role))
		b.WriteString(tpl.RoleSep)
		b.WriteString(m.Content)
		b.WriteString(tpl.TurnEnd)
	}
	if addGenerationPrompt {
		assistant := tpl.AssistantRole
		if assistant == "" {
			assistant = "assistant"
		}
		b.WriteString(tpl.TurnStart)
		b.WriteString(role(assistant))
		b.WriteString(tpl.RoleSep)
		b.WriteString(tpl.GenerationPrefix)
	}
	return b.String()
}
