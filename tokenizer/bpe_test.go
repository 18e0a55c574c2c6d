package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// tinySpec describes a hand-written tokenizer.json: the 256 byte tokens get
// ids 0..255 (id = byte value), then the merged tokens in merge order get
// 256, 257, ..., then the added tokens 300, 301, 302.
type tinySpec struct {
	pattern      string // Split regex; "" for GPT-2 ByteLevel with use_regex
	mergeArrays  bool   // merges as [a, b] instead of "a b"
	normalizer   any
	added        []map[string]any
	modelType    string
	dropMerges   bool
	extraMerges  []string
	skipByteTok  int // remove the token of this byte (-1: none)
	ignoreMerges bool
	extraVocab   map[string]int
}

// tinyMerges are the hand-written merges (Ġ is the space byte).
var tinyMerges = []string{
	"h e",    // 256 he
	"l l",    // 257 ll
	"he ll",  // 258 hell
	"hell o", // 259 hello
	"Ġ w",    // 260 Ġw
	"o r",    // 261 or
	"Ġw or",  // 262 Ġwor
	"Ġ Ġ",    // 263 ĠĠ
	"1 2",    // 264 12
	"e l",    // 265 el
}

func tinyJSON(t testing.TB, s tinySpec) []byte {
	t.Helper()
	alpha := byteLevelAlphabet()
	vocab := map[string]int{}
	for b, r := range alpha {
		if b != s.skipByteTok {
			vocab[string(r)] = b
		}
	}
	for k, v := range s.extraVocab {
		vocab[k] = v
	}
	merges := append(append([]string{}, tinyMerges...), s.extraMerges...)
	var mergeList []any
	for i, m := range merges {
		parts := strings.SplitN(m, " ", 2)
		if i < len(tinyMerges) {
			vocab[parts[0]+parts[1]] = 256 + i
		}
		if s.mergeArrays {
			mergeList = append(mergeList, parts)
		} else {
			mergeList = append(mergeList, m)
		}
	}
	added := s.added
	if added == nil {
		for i, c := range []string{"<|im_start|>", "<|im_end|>", "<|endoftext|>"} {
			added = append(added, map[string]any{"id": 300 + i, "content": c, "special": true})
		}
	}
	var pre any = map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
	if s.pattern != "" {
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": s.pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
		}}
	}
	typ := s.modelType
	if typ == "" {
		typ = "BPE"
	}
	model := map[string]any{"type": typ, "vocab": vocab, "ignore_merges": s.ignoreMerges}
	if !s.dropMerges {
		model["merges"] = mergeList
	}
	doc := map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": s.normalizer,
		"pre_tokenizer": pre, "decoder": map[string]any{"type": "ByteLevel"}, "model": model,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tiny(t testing.TB, s tinySpec) *BPE {
	t.Helper()
	tok, err := ParseBPE("tiny.json", tinyJSON(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBPETinyExactIDs(t *testing.T) {
	qwen := tinySpec{pattern: PatternQwen2, normalizer: map[string]any{"type": "NFC"}, skipByteTok: -1}
	arrays := qwen
	arrays.mergeArrays = true
	gpt2 := tinySpec{skipByteTok: -1}
	cases := []struct {
		name string
		spec tinySpec
		in   string
		want []int32
	}{
		{"hello world", qwen, "hello world", []int32{259, 262, 'l', 'd'}},
		{"array merges", arrays, "hello world", []int32{259, 262, 'l', 'd'}},
		{"leftmost tie", qwen, "lll", []int32{257, 'l'}},
		{"lower rank first", qwen, "hel", []int32{256, 'l'}},
		{"rank beats position", qwen, "ell", []int32{'e', 257}},
		{"qwen digits", qwen, "x12", []int32{'x', '1', '2'}},
		{"gpt2 digits merge", gpt2, "x12", []int32{'x', 264}},
		// "a    b": pieces "a", "   " (the run gives back one space) and " b".
		{"space run", qwen, "a    b", []int32{'a', 263, ' ', ' ', 'b'}},
		{"empty", qwen, "", nil},
		{"nfc", qwen, "e\u0301", []int32{0xC3, 0xA9}},
		{"special as text", qwen, "<|im_end|>", []int32{'<', '|', 'i', 'm', '_', 'e', 'n', 'd', '|', '>'}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tiny(t, c.spec).Encode(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestBPEEncodeWithSpecial(t *testing.T) {
	tok := tiny(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1})
	got := tok.EncodeWithSpecial("<|im_start|>hello<|im_end|>\n<|im_")
	want := []int32{300, 259, 301, '\n', '<', '|', 'i', 'm', '_'}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EncodeWithSpecial = %v, want %v", got, want)
	}
	if d := tok.Decode(got); d != "<|im_start|>hello<|im_end|>\n<|im_" {
		t.Errorf("Decode = %q", d)
	}
	// lstrip and rstrip swallow the whitespace beside the token.
	strip := tiny(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1, added: []map[string]any{
		{"id": 300, "content": "<mask>", "lstrip": true, "rstrip": true, "special": true},
		{"id": 301, "content": "<mask>x", "special": false},
	}})
	got = strip.EncodeWithSpecial("hello  <mask>  hello <mask>x")
	want = []int32{259, 300, 259, ' ', 301}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lstrip/rstrip/longest: got %v, want %v", got, want)
	}
	if !strip.IsSpecial(300) || strip.IsSpecial(301) || strip.IsSpecial(259) {
		t.Errorf("IsSpecial flags wrong")
	}
}

func TestBPELookups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path, tinyJSON(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1}), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadBPE(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.VocabSize(); got != 303 {
		t.Errorf("VocabSize = %d, want 303", got)
	}
	if id, ok := tok.Special(EOS); !ok || id != 302 {
		t.Errorf("default EOS = %d %v, want 302", id, ok)
	}
	if id, ok := tok.Special("<|im_end|>"); !ok || id != 301 {
		t.Errorf("Special(<|im_end|>) = %d %v", id, ok)
	}
	if _, ok := tok.Special(Fix); ok {
		t.Errorf("Special(Fix) found in a vocabulary without it")
	}
	if id, ok := tok.TokenToID("Ġwor"); !ok || id != 262 {
		t.Errorf("TokenToID(Ġwor) = %d %v", id, ok)
	}
	if s, ok := tok.IDToToken(263); !ok || s != "ĠĠ" {
		t.Errorf("IDToToken(263) = %q %v", s, ok)
	}
	if _, ok := tok.IDToToken(280); ok {
		t.Errorf("IDToToken of an unused id succeeded")
	}
	if err := tok.SetSpecial(Pad, 300); err != nil {
		t.Fatal(err)
	}
	if id, _ := tok.Special(Pad); id != 300 {
		t.Errorf("SetSpecial(Pad) not applied: %d", id)
	}
	if err := tok.SetSpecial(Pad, 999); err == nil {
		t.Errorf("SetSpecial accepted an unknown id")
	}
	// tokenizer_config.json beside the file names EOS.
	cfg := `{"eos_token": "<|im_end|>", "pad_token": {"content": "<|endoftext|>"}, "bos_token": null}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err = LoadBPE(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := tok.Special(EOS); id != 301 {
		t.Errorf("config EOS = %d, want 301", id)
	}
	if id, _ := tok.Special(Pad); id != 302 {
		t.Errorf("config Pad = %d, want 302", id)
	}
	if _, ok := tok.Special(BOS); ok {
		t.Errorf("BOS found though the config has none")
	}
}

// TestBPERoundTrip checks decode(encode(s)) == NFC(s) on varied text for
// each pre-tokenizer.
func TestBPERoundTrip(t *testing.T) {
	texts := []string{
		"", " ", "hello world", "  leading and trailing  ", "tabs\tand\r\nCRLF\n\n\n",
		"Ünïcödé café naïve e\u0301", "日本語のテキスト、中文字符。한국어", "emoji 👋🏽 👨‍👩‍👧 🇫🇷!!",
		"digits 1234567890 3.14159 -42 1,000,000", "it's I'M we'LL 'sup", "\u00a0nbsp\u3000ideo",
		"code: func f(x int) { return x*2 } // ok", "$\\frac{3}{4}$ \\boxed{42}",
		"\x00\x01\x7f control", "   ", "\n", "a\n \n b", "ſ'ſ", "\xff\xfe invalid utf8 \xc3",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("hello wrd\n\t 12ſé日👋'.,!\u00a0")
	for i := 0; i < 300; i++ {
		n := rng.IntN(40)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		texts = append(texts, b.String())
	}
	for _, pat := range []string{PatternQwen2, PatternLlama3, ""} {
		tok := tiny(t, tinySpec{pattern: pat, normalizer: map[string]any{"type": "NFC"}, skipByteTok: -1})
		for _, s := range texts {
			want := norm.NFC.String(s)
			if got := tok.Decode(tok.Encode(s)); got != want {
				t.Errorf("pattern %.10q: Decode(Encode(%q)) = %q", pat, s, got)
			}
			if got := tok.Decode(tok.EncodeWithSpecial(s + "<|im_end|>")); got != want+"<|im_end|>" {
				t.Errorf("pattern %.10q: special round trip of %q = %q", pat, s, got)
			}
		}
	}
}

// naiveMerge is the textbook BPE reference: repeatedly merge the adjacent
// pair of lowest rank, leftmost first.
func naiveMerge(tok *BPE, piece string) []int32 {
	ids := make([]int32, len(piece))
	for i := range piece {
		ids[i] = tok.byteID[piece[i]]
	}
	for {
		best, at := int32(-1), -1
		for i := 0; i+1 < len(ids); i++ {
			if m, ok := tok.merges[pairKey(ids[i], ids[i+1])]; ok && (best < 0 || m.rank < best) {
				best, at = m.rank, i
			}
		}
		if at < 0 {
			return ids
		}
		m := tok.merges[pairKey(ids[at], ids[at+1])]
		ids = append(ids[:at+1], ids[at+2:]...)
		ids[at] = m.id
	}
}

func TestBPEHeapMatchesNaive(t *testing.T) {
	tok := tiny(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1})
	rng := rand.New(rand.NewPCG(3, 4))
	letters := "helowr 12"
	for i := 0; i < 2000; i++ {
		n := 1 + rng.IntN(30)
		b := make([]byte, n)
		for j := range b {
			b[j] = letters[rng.IntN(len(letters))]
		}
		got, want := tok.mergePiece(string(b)), naiveMerge(tok, string(b))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mergePiece(%q) = %v, naive %v", b, got, want)
		}
	}
}

func TestBPEIgnoreMerges(t *testing.T) {
	// With ignore_merges a piece found whole in the vocabulary is one token,
	// even when no merges build it.
	for _, ignore := range []bool{false, true} {
		tok := tiny(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1, ignoreMerges: ignore, extraVocab: map[string]int{"xyz": 290}})
		want := []int32{'x', 'y', 'z'}
		if ignore {
			want = []int32{290}
		}
		if got := tok.Encode("xyz"); !reflect.DeepEqual(got, want) {
			t.Errorf("ignore_merges %v: Encode(xyz) = %v, want %v", ignore, got, want)
		}
	}
}

func TestLoadBPEErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := tinySpec{pattern: PatternQwen2, skipByteTok: -1}
	with := func(f func(*tinySpec)) []byte {
		s := base
		f(&s)
		return tinyJSON(t, s)
	}
	cases := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"not json", "a.json", []byte("{not json"), "not a valid tokenizer.json"},
		{"wordpiece", "b.json", with(func(s *tinySpec) { s.modelType = "WordPiece" }), `unsupported model type "WordPiece"`},
		{"no merges", "c.json", with(func(s *tinySpec) { s.dropMerges = true }), "model.merges is missing"},
		{"unknown merge token", "d.json", with(func(s *tinySpec) { s.extraMerges = []string{"zz q"} }), `names unknown token "zz"`},
		{"merged not in vocab", "e.json", with(func(s *tinySpec) { s.extraMerges = []string{"q q"} }), `merged token "qq" is not in the vocabulary`},
		{"bad merge string", "f.json", with(func(s *tinySpec) { s.extraMerges = []string{"a b c"} }), "not two tokens"},
		{"unknown regex", "g.json", with(func(s *tinySpec) { s.pattern = `\w+` }), "unsupported Split pre-tokenizer regex"},
		{"missing byte", "h.json", with(func(s *tinySpec) { s.skipByteTok = 0 }), "byte 0x00"},
		{"bad normalizer", "i.json", with(func(s *tinySpec) { s.normalizer = map[string]any{"type": "Lowercase"} }), `unsupported normalizer "Lowercase"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(c.file, c.data)
			_, err := LoadBPE(p)
			if err == nil {
				t.Fatalf("LoadBPE accepted a bad file")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, p, c.want)
			}
		})
	}
	if _, err := LoadBPE(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
	good := write("tokenizer.json", tinyJSON(t, base))
	write("tokenizer_config.json", []byte(`{"eos_token": "<|nope|>"}`))
	if _, err := LoadBPE(good); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("bad tokenizer_config.json: %v", err)
	}
}

func BenchmarkBPEEncode(b *testing.B) {
	tok := tiny(b, tinySpec{pattern: PatternQwen2, skipByteTok: -1})
	text := strings.Repeat("hello world, it's 2024!\n", 200)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

// TestBPEConcurrent encodes from several goroutines at once (the merge
// cache is shared); run with -race.
func TestBPEConcurrent(t *testing.T) {
	tok := tiny(t, tinySpec{pattern: PatternQwen2, skipByteTok: -1})
	want := tok.Encode("hello world 12 lll")
	done := make(chan []int32)
	for range 4 {
		go func() {
			var last []int32
			for range 200 {
				last = tok.Encode("hello world 12 lll")
			}
			done <- last
		}()
	}
	for range 4 {
		if got := <-done; !reflect.DeepEqual(got, want) {
			t.Errorf("concurrent Encode = %v, want %v", got, want)
		}
	}
}
