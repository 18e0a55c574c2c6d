package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCharSpecialIDs(t *testing.T) {
	c := NewChar()
	want := []string{Pad, BOS, EOS, Sep, Rep, Fail, Ref, Fix}
	for i, name := range want {
		id, ok := c.Special(name)
		if !ok || id != int32(i) {
			t.Errorf("Special(%s) = %d, %v; want %d, true", name, id, ok, i)
		}
		if got := c.Decode([]int32{int32(i)}); got != name {
			t.Errorf("Decode(%d) = %q, want %q", i, got, name)
		}
	}
	if _, ok := c.Special("<nope>"); ok {
		t.Error("Special(<nope>) found")
	}
	if err := CheckSpecials(c); err != nil {
		t.Error(err)
	}
}

func TestCharVocabulary(t *testing.T) {
	c := NewChar()
	if n := c.VocabSize(); n != 8+len(c.Alphabet()) || n >= 96 {
		t.Fatalf("VocabSize = %d, alphabet %d", n, len(c.Alphabet()))
	}
	seen := map[rune]bool{}
	for _, r := range c.Alphabet() {
		if seen[r] {
			t.Errorf("duplicate character %q", r)
		}
		seen[r] = true
	}
	for _, r := range "0123456789abcdefghijklmnopqrstuvwxyz +-*/%=;#?,:()<>" {
		if _, ok := c.ID(r); !ok {
			t.Errorf("character %q missing", r)
		}
	}
	// ids are dense: 8..VocabSize-1 are the alphabet in order.
	for i, r := range c.Alphabet() {
		if id, _ := c.ID(r); id != int32(8+i) {
			t.Errorf("ID(%q) = %d, want %d", r, id, 8+i)
		}
	}
}

func TestCharRoundTrip(t *testing.T) {
	c := NewChar()
	cases := []string{
		"",
		"3 +5 *2 -7 %97",
		"3+5=8;8*2=16;16-7=9;#9",
		"1+9+0=10c1;2+7+1=10c1;8+3+1=12c1;4+0+1=5c0;#5200",
		"a=3;b=a+4;c=b*2;d=c-a;?d",
		"3 7 25 50 =78",
		c.Alphabet(),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteByte(c.Alphabet()[rng.IntN(len(c.Alphabet()))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		ids := c.Encode(s)
		if len(ids) != len(s) {
			t.Errorf("Encode(%q) has %d ids, want %d", s, len(ids), len(s))
		}
		checked, err := c.EncodeChecked(s)
		if err != nil {
			t.Errorf("EncodeChecked(%q): %v", s, err)
		}
		for i := range ids {
			if ids[i] < 8 || int(ids[i]) >= c.VocabSize() || checked[i] != ids[i] {
				t.Errorf("Encode(%q)[%d] = %d (checked %d)", s, i, ids[i], checked[i])
			}
		}
		if got := c.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
}

func TestCharUnknown(t *testing.T) {
	c := NewChar()
	cases := []struct {
		text   string
		offset string
		char   string
	}{
		{"12X3", "offset 2", `'X'`},
		{"ab\n", "offset 2", `'\n'`},
		{"1+é=2", "offset 2", `'é'`},
		{"ok;€", "offset 3", `'€'`},
	}
	for _, tc := range cases {
		_, err := c.EncodeChecked(tc.text)
		if err == nil {
			t.Errorf("EncodeChecked(%q): no error", tc.text)
			continue
		}
		if !strings.Contains(err.Error(), tc.offset) || !strings.Contains(err.Error(), tc.char) {
			t.Errorf("EncodeChecked(%q) error %q lacks %s or %s", tc.text, err, tc.char, tc.offset)
		}
		// Encode drops unknown characters.
		kept := strings.Map(func(r rune) rune {
			if _, ok := c.ID(r); ok {
				return r
			}
			return -1
		}, tc.text)
		if got := c.Decode(c.Encode(tc.text)); got != kept {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", tc.text, got, kept)
		}
	}
	if got := c.Decode([]int32{-1, int32(c.VocabSize())}); got != "<unk><unk>" {
		t.Errorf("Decode(out of range) = %q", got)
	}
}

func TestCharImplementsTokenizer(t *testing.T) {
	var _ Tokenizer = NewChar()
}
