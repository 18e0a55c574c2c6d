// Package tokenizer turns text into token ids and back: a character
// vocabulary for the built-in tasks (with the special tokens of the policy
// and repair templates) and byte-level BPE from a Hugging Face tokenizer.json.
package tokenizer

// Special token names of METHOD.md §3.2.
const (
	Pad  = "<pad>"
	BOS  = "<bos>"
	EOS  = "<eos>"
	Sep  = "<sep>"
	Rep  = "<rep>"
	Fail = "<fail>"
	Ref  = "<ref>"
	Fix  = "<fix>"
)

// Tokenizer encodes text to ids and decodes ids to text.
type Tokenizer interface {
	// Encode turns plain text (no special tokens) into ids.
	Encode(text string) []int32
	// Decode turns ids into text; special tokens decode to their names.
	Decode(ids []int32) string
	// VocabSize is the number of ids.
	VocabSize() int
	// Special returns the id of a special token by name (Pad, BOS, ...),
	// and false when the vocabulary lacks it.
	Special(name string) (int32, bool)
}
