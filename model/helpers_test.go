package model

import (
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
)

const testVocab = 13

// tinyModel builds the "tiny" preset on a 2-thread CPU engine.
func tinyModel(t testing.TB, tied, bias bool, seed uint64) *Model {
	t.Helper()
	cfg, err := Preset("tiny", testVocab)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TiedEmbeddings, cfg.QKVBias = tied, bias
	return newModel(t, cfg, seed)
}

// newModel builds cfg on a fresh 2-thread CPU engine.
func newModel(t testing.TB, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := New(cpu.New(2), cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randTokens draws n token ids.
func randTokens(r *rand.Rand, n, vocab int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab))
	}
	return ids
}

// download copies a tensor to the host.
func download(b backend.Backend, t backend.Tensor) []float32 {
	h := make([]float32, t.Len())
	b.Download(t, h)
	return h
}

// fullLogits runs Forward over a right-padded batch and returns the logits
// hidden·Headᵀ as a host [B·T·V] slice.
func fullLogits(t testing.TB, m *Model, ids []int32, B, T int) []float32 {
	t.Helper()
	a, err := m.Forward(ids, B, T)
	if err != nil {
		t.Fatal(err)
	}
	lg := m.act(B*T, m.Cfg.Vocab)
	m.B.MatMul(lg, a.Hidden(), m.Head(), backend.MatMulParams{TransB: true, Alpha: 1})
	if err := m.B.Err(); err != nil {
		t.Fatal(err)
	}
	return download(m.B, lg)
}

// maxAbsDiff is max |a_i − b_i|.
func maxAbsDiff(a, b []float32) float32 {
	var d float32
	for i := range a {
		if x := a[i] - b[i]; x > d {
			d = x
		} else if -x > d {
			d = -x
		}
	}
	return d
}

// pad right-pads rows to T tokens with zeros, row-major.
func pad(rows [][]int32, T int) []int32 {
	ids := make([]int32, len(rows)*T)
	for i, r := range rows {
		copy(ids[i*T:], r)
	}
	return ids
}
