package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

// decodeReference is DecodeAttention one key at a time (as it was before
// keys were interleaved), on the engine's tensors.
func decodeReference(kc, vc, table, lens *Tensor, s pagedShape, qv []float32, h, d int, scale float32) []float32 {
	out := make([]float32, s.b*h*d)
	sc := make([]float32, s.maxBlocks*s.bs)
	group := h / s.kvh
	for task := 0; task < s.b*h; task++ {
		b, hh := task/h, task%h
		n := int(lens.i[b])
		dst := out[task*d : (task+1)*d]
		if n == 0 {
			continue
		}
		q := qv[task*d : (task+1)*d]
		kv := (hh / group) * d
		m := float32(math.Inf(-1))
		for j := 0; j < n; j++ {
			off := s.slot(table, b, j) + kv
			var dot float32
			for i, x := range q {
				dot += float32(x * kc.f[off+i])
			}
			sc[j] = dot * scale
			m = max(m, sc[j])
		}
		expSub(sc[:n], m)
		inv := float32(1 / sum64(sc[:n]))
		for j := 0; j < n; j++ {
			off := s.slot(table, b, j) + kv
			w := sc[j] * inv
			for i, x := range vc.f[off : off+d] {
				dst[i] += float32(w * x)
			}
		}
	}
	return out
}

// TestDecodeAttentionBitwise checks DecodeAttention against
// decodeReference bit for bit, on sequence lengths around multiples of 4.
func TestDecodeAttentionBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct{ h, kvh, d, bs int }{{4, 2, 8, 4}, {4, 4, 32, 16}, {6, 2, 5, 3}} {
		t.Run(fmt.Sprintf("h%d_kvh%d_d%d_bs%d", c.h, c.kvh, c.d, c.bs), func(t *testing.T) {
			e := New(2)
			lens := []int32{0, 1, 3, 4, 5, 8, 11, 17, 32}
			nb, maxBlocks := len(lens), (32+c.bs-1)/c.bs
			blocks := nb * maxBlocks
			table := make([]int32, nb*maxBlocks)
			for i, p := range rng.Perm(blocks) {
				table[i] = int32(p)
			}
			k := benchTensor(e, rng, 1, blocks, c.bs, c.kvh, c.d)
			v := benchTensor(e, rng, 1, blocks, c.bs, c.kvh, c.d)
			bt := e.Alloc(backend.Activations, backend.I32, nb, maxBlocks)
			e.UploadI32(bt, table)
			sl := e.Alloc(backend.Activations, backend.I32, nb)
			e.UploadI32(sl, lens)
			q := benchTensor(e, rng, 1, nb, c.h, c.d)
			out := e.Alloc(backend.Activations, backend.F32, nb, c.h, c.d)
			p := backend.AttnParams{Heads: c.h, KVHeads: c.kvh, HeadDim: c.d}
			e.DecodeAttention(out, q, backend.PagedKV{K: k, V: v, BlockTable: bt, SeqLens: sl, BlockSize: c.bs}, p)
			if err := e.Err(); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, out.Len())
			e.Download(out, got)
			s := pagedShape{b: nb, blocks: blocks, bs: c.bs, kvh: c.kvh, d: c.d, maxBlocks: maxBlocks}
			qv := make([]float32, q.Len())
			e.Download(q, qv)
			want := decodeReference(k.(*Tensor), v.(*Tensor), bt.(*Tensor), sl.(*Tensor), s, qv, c.h, c.d, float32(1/math.Sqrt(float64(c.d))))
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("out[%d] = %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}

// BenchmarkDecodeAttention times one decode step of the quickstart's RL
// rollouts (256 sequences of 48 tokens, 4 heads of 32) on one thread, and
// decodeReference on the same cache.
func BenchmarkDecodeAttention(b *testing.B) {
	const nb, h, d, bs, n = 256, 4, 32, 16, 48
	e := New(1)
	rng := rand.New(rand.NewPCG(33, 34))
	maxBlocks := (n + bs - 1) / bs
	table := make([]int32, nb*maxBlocks)
	for i, p := range rng.Perm(nb * maxBlocks) {
		table[i] = int32(p)
	}
	lens := make([]int32, nb)
	for i := range lens {
		lens[i] = n
	}
	k, v := benchTensor(e, rng, 1, nb*maxBlocks, bs, h, d), benchTensor(e, rng, 1, nb*maxBlocks, bs, h, d)
	bt, sl := e.Alloc(backend.Activations, backend.I32, nb, maxBlocks), e.Alloc(backend.Activations, backend.I32, nb)
	e.UploadI32(bt, table)
	e.UploadI32(sl, lens)
	q := benchTensor(e, rng, 1, nb, h, d)
	out := e.Alloc(backend.Activations, backend.F32, nb, h, d)
	cache := backend.PagedKV{K: k, V: v, BlockTable: bt, SeqLens: sl, BlockSize: bs}
	p := backend.AttnParams{Heads: h, KVHeads: h, HeadDim: d}
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			e.DecodeAttention(out, q, cache, p)
		}
	})
	b.Run("one-key-at-a-time", func(b *testing.B) {
		s := pagedShape{b: nb, blocks: nb * maxBlocks, bs: bs, kvh: h, d: d, maxBlocks: maxBlocks}
		qv := make([]float32, q.Len())
		e.Download(q, qv)
		for b.Loop() {
			decodeReference(k.(*Tensor), v.(*Tensor), bt.(*Tensor), sl.(*Tensor), s, qv, h, d, 1/float32(math.Sqrt(d)))
		}
	})
}
