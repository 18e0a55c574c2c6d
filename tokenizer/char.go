package tokenizer

import (
	"fmt"
	"strings"
)

// specialNames lists the special tokens in id order: ids 0..7.
func specialNames() [8]string { return [8]string{Pad, BOS, EOS, Sep, Rep, Fail, Ref, Fix} }

// charAlphabet lists the plain characters of the character vocabulary in id
// order; the first one has id len(specialNames). It covers every character
// the built-in task generators produce (digits, lower-case letters, space and
// the operators and punctuation of the traces) plus a few spares for small
// user data sets.
const charAlphabet = "0123456789" +
	"abcdefghijklmnopqrstuvwxyz" +
	" +-*/%=;#?,:()<>" +
	"._!^[]&|"

// Char is the fixed character vocabulary shared by all built-in tasks:
// ids 0..7 are <pad> <bos> <eos> <sep> <rep> <fail> <ref> <fix>, then one id
// per character of the alphabet (digits, a-z, space, + - * / % = ; # ? , : ( )
// < > . _ ! ^ [ ] & |). A Char is immutable and safe for concurrent use.
type Char struct {
	ids   [128]int32 // ASCII byte -> id, -1 when not in the vocabulary
	chars []string   // id -> text (special names for ids < 8)
}

// NewChar returns the character vocabulary.
func NewChar() *Char {
	c := &Char{}
	for i := range c.ids {
		c.ids[i] = -1
	}
	for _, s := range specialNames() {
		c.chars = append(c.chars, s)
	}
	for i := 0; i < len(charAlphabet); i++ {
		c.ids[charAlphabet[i]] = int32(len(c.chars))
		c.chars = append(c.chars, charAlphabet[i:i+1])
	}
	return c
}

// VocabSize is the number of ids (special tokens included).
func (c *Char) VocabSize() int { return len(c.chars) }

// Special returns the id of a special token by name.
func (c *Char) Special(name string) (int32, bool) {
	for i, s := range specialNames() {
		if s == name {
			return int32(i), true
		}
	}
	return 0, false
}

// ID returns the id of one plain character, and false when the vocabulary
// lacks it.
func (c *Char) ID(r rune) (int32, bool) {
	if r < 0 || r >= 128 || c.ids[r] < 0 {
		return 0, false
	}
	return c.ids[r], true
}

// Alphabet returns the plain characters of the vocabulary in id order.
func (c *Char) Alphabet() string { return charAlphabet }

// Encode turns plain text into ids. Characters outside the vocabulary are
// dropped; use EncodeChecked where the text comes from users.
func (c *Char) Encode(text string) []int32 {
	out := make([]int32, 0, len(text))
	for _, r := range text {
		if id, ok := c.ID(r); ok {
			out = append(out, id)
		}
	}
	return out
}

// EncodeChecked is Encode that fails on the first character outside the
// vocabulary, naming it and its byte offset in text.
func (c *Char) EncodeChecked(text string) ([]int32, error) {
	out := make([]int32, 0, len(text))
	for off, r := range text {
		id, ok := c.ID(r)
		if !ok {
			return nil, fmt.Errorf("character %q at byte offset %d is not in the character vocabulary", r, off)
		}
		out = append(out, id)
	}
	return out, nil
}

// Decode turns ids into text; special tokens decode to their names and ids
// outside the vocabulary to "<unk>".
func (c *Char) Decode(ids []int32) string {
	var b strings.Builder
	b.Grow(len(ids))
	for _, id := range ids {
		if id < 0 || int(id) >= len(c.chars) {
			b.WriteString("<unk>")
			continue
		}
		b.WriteString(c.chars[id])
	}
	return b.String()
}
