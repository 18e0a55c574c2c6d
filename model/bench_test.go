package model

import (
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
)

// benchModel builds the "small" preset with a 64-token vocabulary.
func benchModel(b *testing.B) *Model {
	cfg, err := Preset("small", 64)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cpu.New(0), cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkForwardBackward is one SFT micro-step of the small preset on a
// 16×64 batch: forward, fused LM-head loss forward and backward, backward.
func BenchmarkForwardBackward(b *testing.B) {
	m := benchModel(b)
	B, T := 16, 64
	N := B * T
	r := rand.New(rand.NewPCG(1, 2))
	ids, targets := randTokens(r, N, 64), randTokens(r, N, 64)
	ones := make([]float32, N)
	for i := range ones {
		ones[i] = 1.0 / float32(N)
	}
	be := m.B
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.ResetPool(backend.Activations)
		a, err := m.Forward(ids, B, T)
		if err != nil {
			b.Fatal(err)
		}
		w := m.act(N)
		be.Upload(w, ones)
		in := backend.PGLossIn{Hidden: a.Hidden(), Head: m.Head(), Targets: m.actI32(targets),
			Adv: w, OldLogp: w, Weight: w, Mode: backend.PGNLL}
		out := backend.PGLossOut{Logp: m.act(N), Entropy: m.act(N), LSE: m.act(N), Loss: m.act(N),
			Coef: m.act(N), Clip: m.act(N), KL: m.act(N)}
		be.PGLossForward(out, in)
		dh := m.act(N, m.Cfg.Dim)
		be.PGLossBackward(dh, m.HeadGrad(), in, out.LSE, out.Coef)
		if err := m.Backward(a, dh); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(N*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkDecodeStep is one decode step of 256 sequences of the small
// preset, at positions 16 to 79 (the cache is refilled outside the timer).
func BenchmarkDecodeStep(b *testing.B) {
	m := benchModel(b)
	const n, start, end = 256, 16, 80
	c, err := m.NewKVCache(n*end/16, 16)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var seqs []SeqID
	refill := func() {
		for _, s := range seqs {
			c.Release(s)
		}
		seqs = seqs[:0]
		prompts := make([][]int32, n)
		for i := range prompts {
			seqs = append(seqs, c.NewSeq())
			prompts[i] = randTokens(r, start, 64)
		}
		m.B.ResetPool(backend.Activations)
		if _, err := m.Prefill(c, seqs, prompts); err != nil {
			b.Fatal(err)
		}
	}
	refill()
	toks := randTokens(r, n, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.Len(seqs[0]) == end {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		m.B.ResetPool(backend.Activations)
		if _, err := m.Step(c, seqs, toks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
