package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// hfTokenizer is the part of a Hugging Face tokenizer.json that byte-level
// BPE needs.
type hfTokenizer struct {
	AddedTokens []struct {
		ID      *int32 `json:"id"`
		Content string `json:"content"`
		Lstrip  bool   `json:"lstrip"`
		Rstrip  bool   `json:"rstrip"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer   *hfComponent `json:"normalizer"`
	PreTokenizer *hfComponent `json:"pre_tokenizer"`
	Decoder      *hfComponent `json:"decoder"`
	Model        *struct {
		Type                    string           `json:"type"`
		Vocab                   map[string]int32 `json:"vocab"`
		Merges                  json.RawMessage  `json:"merges"`
		Dropout                 *float64         `json:"dropout"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
		IgnoreMerges            bool             `json:"ignore_merges"`
	} `json:"model"`
}

// hfComponent is a normalizer, pre-tokenizer or decoder entry.
type hfComponent struct {
	Type    string `json:"type"`
	Pattern *struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior       string        `json:"behavior"`
	Invert         bool          `json:"invert"`
	UseRegex       *bool         `json:"use_regex"`
	AddPrefixSpace bool          `json:"add_prefix_space"`
	Pretokenizers  []hfComponent `json:"pretokenizers"`
	Normalizers    []hfComponent `json:"normalizers"`
	Decoders       []hfComponent `json:"decoders"`
}

// LoadBPE reads a Hugging Face tokenizer.json with a byte-level BPE model.
// When a tokenizer_config.json lies beside it, its bos_token, eos_token and
// pad_token name the BOS, EOS and Pad specials. Every error names the file
// and what is wrong with it.
func LoadBPE(path string) (*BPE, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	t, err := ParseBPE(path, data)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(filepath.Dir(path), "tokenizer_config.json")
	cfg, err := os.ReadFile(cfgPath)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", cfgPath, err)
	}
	if err := t.applyConfig(cfgPath, cfg); err != nil {
		return nil, err
	}
	return t, nil
}

// ParseBPE builds a tokenizer from the bytes of a tokenizer.json; name is
// used in error messages.
func ParseBPE(name string, data []byte) (*BPE, error) {
	fail := func(format string, a ...any) (*BPE, error) {
		return nil, fmt.Errorf("tokenizer %s: "+format, append([]any{name}, a...)...)
	}
	var hf hfTokenizer
	if err := json.Unmarshal(data, &hf); err != nil {
		return fail("not a valid tokenizer.json: %v", err)
	}
	m := hf.Model
	if m == nil {
		return fail("no \"model\" object")
	}
	if m.Type != "BPE" && !(m.Type == "" && m.Merges != nil) {
		return fail("unsupported model type %q (only BPE)", m.Type)
	}
	if len(m.Vocab) == 0 {
		return fail("model.vocab is missing or empty")
	}
	if m.Merges == nil || string(m.Merges) == "null" {
		return fail("model.merges is missing")
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return fail("BPE dropout %v is not supported", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return fail("continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return fail("end_of_word_suffix %q is not supported", *m.EndOfWordSuffix)
	}
	t := &BPE{
		path:         name,
		tokenToID:    make(map[string]int32, len(m.Vocab)+len(hf.AddedTokens)),
		merges:       make(map[uint64]merge),
		runeByte:     make(map[rune]byte, 256),
		addedByID:    make(map[int32]string),
		names:        make(map[string]int32),
		cache:        make(map[string][]int32),
		alphabet:     byteLevelAlphabet(),
		ignoreMerges: m.IgnoreMerges,
	}
	var err error
	if t.nfc, err = parseNormalizer(hf.Normalizer); err != nil {
		return fail("%v", err)
	}
	if t.split, err = parsePreTokenizer(hf.PreTokenizer); err != nil {
		return fail("%v", err)
	}
	if err := checkDecoder(hf.Decoder); err != nil {
		return fail("%v", err)
	}
	maxID := int32(-1)
	for tok, id := range m.Vocab {
		if id < 0 {
			return fail("model.vocab: token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
		t.tokenToID[tok] = id
	}
	for _, a := range hf.AddedTokens {
		if a.ID == nil || *a.ID < 0 || a.Content == "" {
			return fail("added_tokens: entry %q needs a non-negative id and non-empty content", a.Content)
		}
		maxID = max(maxID, *a.ID)
	}
	t.idToToken = make([]string, maxID+1)
	for tok, id := range m.Vocab {
		if prev := t.idToToken[id]; prev != "" {
			return fail("model.vocab: id %d is used by both %q and %q", id, prev, tok)
		}
		t.idToToken[id] = tok
	}
	for _, a := range hf.AddedTokens {
		id := *a.ID
		if prev := t.idToToken[id]; prev != "" && prev != a.Content {
			return fail("added_tokens: id %d of %q is the vocabulary token %q", id, a.Content, prev)
		}
		t.idToToken[id] = a.Content
		t.tokenToID[a.Content] = id
		t.addedByID[id] = a.Content
		t.added = append(t.added, addedToken{content: a.Content, id: id, special: a.Special, lstrip: a.Lstrip, rstrip: a.Rstrip})
	}
	sortAdded(t.added)
	for b, r := range t.alphabet {
		t.runeByte[r] = byte(b)
		id, ok := t.tokenToID[string(r)]
		if !ok {
			return fail("model.vocab lacks the byte-level token %q of byte 0x%02x", string(r), b)
		}
		t.byteID[b] = id
	}
	if err := t.parseMerges(m.Merges); err != nil {
		return fail("%v", err)
	}
	t.setDefaultNames()
	return t, nil
}

// parseMerges reads merges in the "a b" string form or the ["a", "b"] form.
func (t *BPE) parseMerges(raw json.RawMessage) error {
	var pairs [][2]string
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		pairs = make([][2]string, len(asStrings))
		for i, s := range asStrings {
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return fmt.Errorf("model.merges[%d] = %q is not two tokens separated by one space", i, s)
			}
			pairs[i] = [2]string{parts[0], parts[1]}
		}
	} else {
		var asLists [][]string
		if err := json.Unmarshal(raw, &asLists); err != nil {
			return fmt.Errorf("model.merges is neither a list of \"a b\" strings nor of [a, b] pairs")
		}
		pairs = make([][2]string, len(asLists))
		for i, p := range asLists {
			if len(p) != 2 {
				return fmt.Errorf("model.merges[%d] has %d tokens, want 2", i, len(p))
			}
			pairs[i] = [2]string{p[0], p[1]}
		}
	}
	for rank, p := range pairs {
		a, okA := t.tokenToID[p[0]]
		b, okB := t.tokenToID[p[1]]
		switch {
		case !okA:
			return fmt.Errorf("model.merges[%d] (%q %q) names unknown token %q", rank, p[0], p[1], p[0])
		case !okB:
			return fmt.Errorf("model.merges[%d] (%q %q) names unknown token %q", rank, p[0], p[1], p[1])
		}
		c, ok := t.tokenToID[p[0]+p[1]]
		if !ok {
			return fmt.Errorf("model.merges[%d] (%q %q): merged token %q is not in the vocabulary", rank, p[0], p[1], p[0]+p[1])
		}
		// A repeated pair keeps its last rank, as Hugging Face tokenizers do.
		t.merges[pairKey(a, b)] = merge{rank: int32(rank), id: c}
	}
	return nil
}

// parseNormalizer accepts no normalizer or NFC (alone or in a Sequence).
func parseNormalizer(c *hfComponent) (nfc bool, err error) {
	if c == nil {
		return false, nil
	}
	switch c.Type {
	case "NFC":
		return true, nil
	case "Sequence":
		for i := range c.Normalizers {
			n, err := parseNormalizer(&c.Normalizers[i])
			if err != nil {
				return false, err
			}
			nfc = nfc || n
		}
		return nfc, nil
	}
	return false, fmt.Errorf("unsupported normalizer %q (only NFC)", c.Type)
}

// parsePreTokenizer accepts ByteLevel with use_regex (GPT-2), or a Sequence
// of an isolating Split with a known regex followed by ByteLevel without
// regex (Qwen2, Llama 3).
func parsePreTokenizer(c *hfComponent) (splitRule, error) {
	if c == nil {
		return splitRule{}, errors.New("pre_tokenizer is missing (byte-level BPE needs ByteLevel)")
	}
	byteLevel := func(c hfComponent) (splitRule, bool, error) {
		if c.AddPrefixSpace {
			return splitRule{}, false, errors.New("ByteLevel add_prefix_space true is not supported")
		}
		if c.UseRegex == nil || *c.UseRegex {
			return splitRule{gpt2: true}, true, nil
		}
		return splitRule{}, false, nil
	}
	switch c.Type {
	case "ByteLevel":
		r, usesRegex, err := byteLevel(*c)
		if err == nil && !usesRegex {
			err = errors.New("ByteLevel pre_tokenizer without regex and without a Split before it is not supported")
		}
		return r, err
	case "Sequence":
		p := c.Pretokenizers
		if len(p) == 1 && p[0].Type == "ByteLevel" {
			return parsePreTokenizer(&p[0])
		}
		if len(p) != 2 || p[0].Type != "Split" || p[1].Type != "ByteLevel" {
			return splitRule{}, errors.New("unsupported pre_tokenizer Sequence (want Split then ByteLevel)")
		}
		s := p[0]
		if s.Pattern == nil || s.Pattern.Regex == nil {
			return splitRule{}, errors.New("Split pre_tokenizer needs a Regex pattern")
		}
		if s.Behavior != "Isolated" || s.Invert {
			return splitRule{}, fmt.Errorf("Split behavior %q invert %v is not supported (want Isolated, false)", s.Behavior, s.Invert)
		}
		rule, err := splitRuleFor(*s.Pattern.Regex)
		if err != nil {
			return splitRule{}, err
		}
		if _, usesRegex, err := byteLevel(p[1]); err != nil || usesRegex {
			if err == nil {
				err = errors.New("ByteLevel after Split must have use_regex false")
			}
			return splitRule{}, err
		}
		return rule, nil
	}
	return splitRule{}, fmt.Errorf("unsupported pre_tokenizer %q (byte-level BPE needs ByteLevel)", c.Type)
}

// checkDecoder accepts no decoder or ByteLevel.
func checkDecoder(c *hfComponent) error {
	if c == nil || c.Type == "ByteLevel" {
		return nil
	}
	return fmt.Errorf("unsupported decoder %q (only ByteLevel)", c.Type)
}

// setDefaultNames points EOS, BOS and Pad at the usual tokens when present.
func (t *BPE) setDefaultNames() {
	first := func(cands ...string) (int32, bool) {
		for _, c := range cands {
			if id, ok := t.tokenToID[c]; ok {
				return id, true
			}
		}
		return 0, false
	}
	if id, ok := first("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"); ok {
		t.names[EOS] = id
		t.names[Pad] = id
	}
	if id, ok := first("<|begin_of_text|>", "<s>", "<bos>"); ok {
		t.names[BOS] = id
	}
	if id, ok := first("<pad>", "<|pad|>"); ok {
		t.names[Pad] = id
	}
}

// applyConfig reads bos_token, eos_token and pad_token of a
// tokenizer_config.json (a string, an object with "content", or null).
func (t *BPE) applyConfig(path string, data []byte) error {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("tokenizer %s: not valid JSON: %v", path, err)
	}
	for key, name := range map[string]string{"bos_token": BOS, "eos_token": EOS, "pad_token": Pad} {
		raw, ok := cfg[key]
		if !ok || string(raw) == "null" {
			continue
		}
		var tok string
		if err := json.Unmarshal(raw, &tok); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == "" {
				return fmt.Errorf("tokenizer %s: %s is neither a string nor an object with content", path, key)
			}
			tok = obj.Content
		}
		id, ok := t.tokenToID[tok]
		if !ok {
			return fmt.Errorf("tokenizer %s: %s %q is not in the vocabulary", path, key, tok)
		}
		t.names[name] = id
	}
	return nil
}
