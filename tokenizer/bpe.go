package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// BPE is a byte-level BPE tokenizer loaded from a Hugging Face
// tokenizer.json (GPT-2, Qwen2/2.5/3, Llama 3 style). It is safe for
// concurrent use once loaded.
type BPE struct {
	path string
	// idToToken holds the vocabulary and added-token strings by id ("" for
	// unused ids).
	idToToken []string
	tokenToID map[string]int32
	// merges maps a pair of ids to its rank and the id of the merged token.
	merges map[uint64]merge
	// alphabet is the GPT-2 byte-level map from bytes to runes.
	alphabet [256]rune
	// byteID is the id of the single-byte token of each byte.
	byteID [256]int32
	// runeByte maps the byte-level alphabet back to bytes.
	runeByte map[rune]byte
	added    []addedToken
	// addedByID marks ids whose Decode is their literal content.
	addedByID    map[int32]string
	split        splitRule
	nfc          bool
	ignoreMerges bool
	// names maps the package's special names (EOS, Pad, ...) to ids.
	names map[string]int32

	mu    sync.Mutex
	cache map[string][]int32
}

type merge struct{ rank, id int32 }

type addedToken struct {
	content string
	id      int32
	special bool
	lstrip  bool
	rstrip  bool
}

// maxCachedPiece and maxCacheEntries bound the per-piece merge cache.
const (
	maxCachedPiece  = 256
	maxCacheEntries = 1 << 17
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Encode turns plain text into ids. Added and special tokens written in the
// text (e.g. "<|im_end|>") are encoded as ordinary text; use
// EncodeWithSpecial to recognise them.
func (t *BPE) Encode(text string) []int32 {
	return t.encodeText(text, nil)
}

// EncodeWithSpecial encodes text in which added tokens (special or not) are
// recognised, leftmost-longest first, as Hugging Face tokenizers do; the text
// between them is encoded as by Encode. Tokens with lstrip/rstrip swallow the
// whitespace beside them.
func (t *BPE) EncodeWithSpecial(text string) []int32 {
	var ids []int32
	start := 0 // start of the pending plain segment
	for i := 0; i < len(text); {
		tok, ok := t.addedAt(text, i)
		if !ok {
			i++
			continue
		}
		seg := text[start:i]
		if tok.lstrip {
			seg = strings.TrimRightFunc(seg, unicode.IsSpace)
		}
		ids = t.encodeText(seg, ids)
		ids = append(ids, tok.id)
		i += len(tok.content)
		if tok.rstrip {
			i = len(text) - len(strings.TrimLeftFunc(text[i:], unicode.IsSpace))
		}
		start = i
	}
	return t.encodeText(text[start:], ids)
}

// addedAt returns the longest added token that starts at text[i:].
func (t *BPE) addedAt(text string, i int) (addedToken, bool) {
	// t.added is sorted by decreasing length, so the first hit is longest.
	for _, a := range t.added {
		if strings.HasPrefix(text[i:], a.content) {
			return a, true
		}
	}
	return addedToken{}, false
}

// encodeText appends the ids of plain text to dst.
func (t *BPE) encodeText(text string, dst []int32) []int32 {
	if text == "" {
		return dst
	}
	if t.nfc {
		text = norm.NFC.String(text)
	}
	for _, piece := range t.split.split(text) {
		dst = append(dst, t.encodePiece(piece)...)
	}
	return dst
}

// encodePiece runs the merges on one pre-token.
func (t *BPE) encodePiece(piece string) []int32 {
	cacheable := len(piece) <= maxCachedPiece
	if cacheable {
		t.mu.Lock()
		ids, ok := t.cache[piece]
		t.mu.Unlock()
		if ok {
			return ids
		}
	}
	var ids []int32
	if id, ok := t.tokenToID[t.byteLevel(piece)]; ok && t.ignoreMerges {
		ids = []int32{id}
	} else {
		ids = t.mergePiece(piece)
	}
	if cacheable {
		t.mu.Lock()
		if len(t.cache) >= maxCacheEntries {
			clear(t.cache)
		}
		t.cache[piece] = ids
		t.mu.Unlock()
	}
	return ids
}

// byteLevel maps the bytes of s to the byte-level alphabet.
func (t *BPE) byteLevel(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(t.alphabet[s[i]])
	}
	return b.String()
}

// mergePiece applies merges lowest rank first, leftmost first among equal
// ranks (the order of Hugging Face tokenizers), with a binary heap.
func (t *BPE) mergePiece(piece string) []int32 {
	n := len(piece)
	id := make([]int32, n)
	next := make([]int32, n)
	prev := make([]int32, n)
	alive := make([]bool, n)
	for i := 0; i < n; i++ {
		id[i] = t.byteID[piece[i]]
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
		alive[i] = true
	}
	next[n-1] = -1
	var h mergeHeap
	push := func(p int32) {
		q := next[p]
		if q < 0 {
			return
		}
		if m, ok := t.merges[pairKey(id[p], id[q])]; ok {
			h.push(heapItem{rank: m.rank, pos: p, id: m.id})
		}
	}
	for i := 0; i < n-1; i++ {
		push(int32(i))
	}
	for h.len() > 0 {
		it := h.pop()
		p := it.pos
		q := next[p]
		if !alive[p] || q < 0 {
			continue
		}
		if m, ok := t.merges[pairKey(id[p], id[q])]; !ok || m.id != it.id || m.rank != it.rank {
			continue // stale: a neighbour changed since this item was pushed
		}
		id[p] = it.id
		alive[q] = false
		next[p] = next[q]
		if next[q] >= 0 {
			prev[next[q]] = p
		}
		if prev[p] >= 0 {
			push(prev[p])
		}
		push(p)
	}
	var out []int32
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, id[i])
	}
	return out
}

// heapItem is one candidate merge at symbol pos.
type heapItem struct{ rank, pos, id int32 }

// mergeHeap is a binary min-heap ordered by (rank, pos).
type mergeHeap struct{ a []heapItem }

func (h *mergeHeap) len() int { return len(h.a) }

func heapLess(x, y heapItem) bool { return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos) }

func (h *mergeHeap) push(x heapItem) {
	h.a = append(h.a, x)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if !heapLess(h.a[i], h.a[p]) {
			break
		}
		h.a[i], h.a[p] = h.a[p], h.a[i]
		i = p
	}
}

func (h *mergeHeap) pop() heapItem {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && heapLess(h.a[l], h.a[m]) {
			m = l
		}
		if r < last && heapLess(h.a[r], h.a[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.a[i], h.a[m] = h.a[m], h.a[i]
		i = m
	}
	return top
}

// Decode turns ids into text: vocabulary tokens are mapped back to their
// bytes, added tokens to their content. The result holds the raw bytes and
// may be invalid UTF-8 when ids end inside a character. Unknown ids decode
// to U+FFFD.
func (t *BPE) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if s, ok := t.addedByID[id]; ok {
			b.WriteString(s)
			continue
		}
		if id < 0 || int(id) >= len(t.idToToken) || t.idToToken[id] == "" {
			b.WriteRune(unicode.ReplacementChar)
			continue
		}
		for _, r := range t.idToToken[id] {
			if c, ok := t.runeByte[r]; ok {
				b.WriteByte(c)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// VocabSize is one more than the largest id (vocabulary and added tokens).
func (t *BPE) VocabSize() int { return len(t.idToToken) }

// Special returns the id of a special token: the names of this package (EOS,
// Pad, BOS, ...) as set from tokenizer_config.json, SetSpecial or the usual
// defaults, or any added token or vocabulary entry by its literal content.
func (t *BPE) Special(name string) (int32, bool) {
	if id, ok := t.names[name]; ok {
		return id, true
	}
	return t.TokenToID(name)
}

// SetSpecial makes name (EOS, Pad, ...) refer to id, e.g. the eos_token_id
// of a model's generation_config.json.
func (t *BPE) SetSpecial(name string, id int32) error {
	if id < 0 || int(id) >= len(t.idToToken) || t.idToToken[id] == "" {
		return fmt.Errorf("tokenizer %s: special %s: id %d is not in the vocabulary", t.path, name, id)
	}
	t.names[name] = id
	return nil
}

// TokenToID returns the id of a token given in its vocabulary spelling
// (byte-level alphabet, e.g. "Ġthe") or of an added token by content.
func (t *BPE) TokenToID(tok string) (int32, bool) {
	id, ok := t.tokenToID[tok]
	return id, ok
}

// IDToToken returns the vocabulary spelling of id (byte-level alphabet) or
// the content of an added token.
func (t *BPE) IDToToken(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.idToToken) || t.idToToken[id] == "" {
		return "", false
	}
	return t.idToToken[id], true
}

// AddedTokens returns the added tokens' contents by id (special or not).
func (t *BPE) AddedTokens() map[int32]string {
	out := make(map[int32]string, len(t.addedByID))
	for id, s := range t.addedByID {
		out[id] = s
	}
	return out
}

// IsSpecial reports whether id is an added token flagged special (such
// tokens are usually dropped when showing generated text).
func (t *BPE) IsSpecial(id int32) bool {
	for _, a := range t.added {
		if a.id == id {
			return a.special
		}
	}
	return false
}

// sortAdded orders added tokens longest first for leftmost-longest matching.
func sortAdded(a []addedToken) {
	sort.SliceStable(a, func(i, j int) bool { return len(a[i].content) > len(a[j].content) })
}
