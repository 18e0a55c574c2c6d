package model

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

const decodeTol = 1e-4

// stepAll feeds rows through Step position by position (only the rows that
// still have tokens) and returns each row's logits at every position.
func stepAll(t *testing.T, m *Model, c *KVCache, seqs []SeqID, rows [][]int32) [][][]float32 {
	t.Helper()
	V := m.Cfg.Vocab
	got := make([][][]float32, len(rows))
	for pos := 0; ; pos++ {
		var ss []SeqID
		var toks []int32
		var which []int
		for i, r := range rows {
			if pos < len(r) {
				ss, toks, which = append(ss, seqs[i]), append(toks, r[pos]), append(which, i)
			}
		}
		if len(ss) == 0 {
			return got
		}
		lg, err := m.Step(c, ss, toks)
		if err != nil {
			t.Fatal(err)
		}
		h := download(m.B, lg)
		for j, i := range which {
			got[i] = append(got[i], h[j*V:(j+1)*V])
		}
	}
}

// wantLogits is the full forward's logits of one row at every position.
func wantLogits(t *testing.T, m *Model, row []int32) [][]float32 {
	V := m.Cfg.Vocab
	full := fullLogits(t, m, row, 1, len(row))
	out := make([][]float32, len(row))
	for p := range row {
		out[p] = full[p*V : (p+1)*V]
	}
	return out
}

func TestDecodeMatchesForward(t *testing.T) {
	for _, tc := range []struct{ tied, bias bool }{{true, false}, {false, true}} {
		m := tinyModel(t, tc.tied, tc.bias, 3)
		r := rand.New(rand.NewPCG(1, 2))
		rows := [][]int32{randTokens(r, 7, testVocab), randTokens(r, 3, testVocab), randTokens(r, 12, testVocab)}
		T, V := 12, m.Cfg.Vocab
		full := fullLogits(t, m, pad(rows, T), len(rows), T)

		c, err := m.NewKVCache(16, 4)
		if err != nil {
			t.Fatal(err)
		}
		seqs := []SeqID{c.NewSeq(), c.NewSeq(), c.NewSeq()}
		got := stepAll(t, m, c, seqs, rows)
		for i, row := range rows {
			if c.Len(seqs[i]) != len(row) {
				t.Errorf("row %d: Len %d, want %d", i, c.Len(seqs[i]), len(row))
			}
			for p := range row {
				want := full[(i*T+p)*V : (i*T+p+1)*V]
				if d := maxAbsDiff(got[i][p], want); d > decodeTol {
					t.Errorf("tied=%v bias=%v row %d pos %d: decode differs from forward by %g", tc.tied, tc.bias, i, p, d)
				}
			}
		}
		for _, s := range seqs {
			c.Release(s)
		}
		if c.FreeBlocks() != 16 {
			t.Errorf("after release %d free blocks, want 16", c.FreeBlocks())
		}
		if st := c.Stats(); st.HighWater != 2+1+3 || st.Used != 0 {
			t.Errorf("stats %+v: want high water 6, used 0", st)
		}
	}
}

func TestPrefillMatchesStep(t *testing.T) {
	m := tinyModel(t, false, true, 5)
	r := rand.New(rand.NewPCG(3, 4))
	rows := [][]int32{randTokens(r, 9, testVocab), randTokens(r, 4, testVocab), randTokens(r, 1, testVocab)}
	V := m.Cfg.Vocab
	c, _ := m.NewKVCache(32, 4)

	stepSeqs := []SeqID{c.NewSeq(), c.NewSeq(), c.NewSeq()}
	stepped := stepAll(t, m, c, stepSeqs, rows)
	preSeqs := []SeqID{c.NewSeq(), c.NewSeq(), c.NewSeq()}
	lg, err := m.Prefill(c, preSeqs, rows) // batched path: all empty
	if err != nil {
		t.Fatal(err)
	}
	batched := download(m.B, lg)
	for i, row := range rows {
		if d := maxAbsDiff(batched[i*V:(i+1)*V], stepped[i][len(row)-1]); d > 1e-5 {
			t.Errorf("row %d: batched prefill differs from steps by %g", i, d)
		}
	}
	// The cache the batched prefill wrote must continue like the stepped one.
	next := randTokens(r, 3, testVocab)
	a, err := m.Step(c, stepSeqs, next)
	if err != nil {
		t.Fatal(err)
	}
	ha := download(m.B, a)
	b, err := m.Step(c, preSeqs, next)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(download(m.B, b), ha); d > 1e-5 {
		t.Errorf("step after batched prefill differs by %g", d)
	}
	// A prefill onto non-empty sequences takes the step path.
	more := [][]int32{randTokens(r, 5, testVocab), randTokens(r, 2, testVocab), randTokens(r, 6, testVocab)}
	lg2, err := m.Prefill(c, preSeqs, more)
	if err != nil {
		t.Fatal(err)
	}
	h2 := download(m.B, lg2)
	for i := range rows {
		row := append(append(append([]int32(nil), rows[i]...), next[i]), more[i]...)
		want := wantLogits(t, m, row)
		if d := maxAbsDiff(h2[i*V:(i+1)*V], want[len(row)-1]); d > decodeTol {
			t.Errorf("row %d: continued prefill differs from forward by %g", i, d)
		}
	}
}

func TestForkCopyOnWrite(t *testing.T) {
	m := tinyModel(t, true, false, 9)
	r := rand.New(rand.NewPCG(5, 6))
	prefix := randTokens(r, 6, testVocab) // block size 4: one full and one partly filled block
	c, _ := m.NewKVCache(16, 4)
	parent := c.NewSeq()
	if _, err := m.Prefill(c, []SeqID{parent}, [][]int32{prefix}); err != nil {
		t.Fatal(err)
	}
	a, _ := c.Fork(parent)
	b, _ := c.Fork(parent)
	if st := c.Stats(); st.Shared != 2 || st.Used != 2 || c.Len(a) != 6 {
		t.Fatalf("after fork: stats %+v, Len %d; want 2 shared of 2 used, Len 6", st, c.Len(a))
	}
	xa, xb, xp := randTokens(r, 4, testVocab), randTokens(r, 4, testVocab), randTokens(r, 3, testVocab)
	// Both children continue in the same steps with different tokens.
	got := stepAll(t, m, c, []SeqID{a, b}, [][]int32{xa, xb})
	if st := c.Stats(); st.CoWCopies != 2 {
		t.Errorf("stats %+v: want 2 copy-on-write copies (the children; the parent keeps the original)", st)
	}
	// Then the parent continues: its own blocks must be intact.
	gotP := stepAll(t, m, c, []SeqID{parent}, [][]int32{xp})
	for _, tc := range []struct {
		name string
		got  [][]float32
		cont []int32
	}{{"child a", got[0], xa}, {"child b", got[1], xb}, {"parent", gotP[0], xp}} {
		row := append(append([]int32(nil), prefix...), tc.cont...)
		want := wantLogits(t, m, row)
		for j := range tc.cont {
			if d := maxAbsDiff(tc.got[j], want[len(prefix)+j]); d > decodeTol {
				t.Errorf("%s token %d: differs from an independent forward by %g", tc.name, j, d)
			}
		}
	}
	for _, s := range []SeqID{a, parent, b} {
		c.Release(s)
	}
	if c.FreeBlocks() != 16 {
		t.Errorf("after release: %d free blocks, want 16", c.FreeBlocks())
	}
}

func TestKVCacheErrors(t *testing.T) {
	m := tinyModel(t, true, false, 1)
	c, _ := m.NewKVCache(2, 4)
	s := c.NewSeq()
	for i := 0; i < 8; i++ {
		if _, err := m.Step(c, []SeqID{s}, []int32{1}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := m.Step(c, []SeqID{s}, []int32{1})
	if err == nil || !strings.Contains(err.Error(), "out of blocks: need 1, 0 free of 2") {
		t.Errorf("9th token in 2 blocks of 4: error %v", err)
	}
	if c.Len(s) != 8 {
		t.Errorf("failed step changed Len to %d", c.Len(s))
	}
	for _, tc := range []struct {
		name string
		seqs []SeqID
		toks []int32
		want string
	}{
		{"unknown", []SeqID{99}, []int32{1}, "unknown sequence 99"},
		{"twice", []SeqID{s, s}, []int32{1, 1}, "listed twice"},
		{"token", []SeqID{s}, []int32{testVocab}, "outside the vocabulary"},
		{"count", []SeqID{s}, []int32{1, 2}, "1 sequences and 2 tokens"},
	} {
		if _, err := m.Step(c, tc.seqs, tc.toks); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	if _, err := c.Fork(42); err == nil {
		t.Error("fork of an unknown sequence: no error")
	}
	if _, err := m.NewKVCache(0, 4); err == nil {
		t.Error("0 blocks: no error")
	}
}

func TestPaddingInvariance(t *testing.T) {
	m := tinyModel(t, false, true, 4)
	r := rand.New(rand.NewPCG(7, 8))
	short, long := randTokens(r, 5, testVocab), randTokens(r, 12, testVocab)
	d := m.Cfg.Dim
	a, err := m.Forward(short, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	alone := download(m.B, a.Hidden())
	for _, order := range [][][]int32{{short, long}, {long, short}} {
		T := 12
		ab, err := m.Forward(pad(order, T), 2, T)
		if err != nil {
			t.Fatal(err)
		}
		h := download(m.B, ab.Hidden())
		row := 0
		if len(order[0]) != 5 {
			row = 1
		}
		if diff := maxAbsDiff(h[row*T*d:(row*T+5)*d], alone); diff > 1e-5 {
			t.Errorf("row %d of a padded batch differs from the sequence alone by %g", row, diff)
		}
	}
	m.B.ResetPool(backend.Activations)
}
