package backendtest

import (
	"math"

	"github.com/sirl-dev/sirl/backend"
)

// memoryRows covers upload/download, copies, fill, pools and the sticky error.
func memoryRows() []row {
	return []row{
		{name: "upload_download_fp32", run: func(h *harness) {
			src := h.normal(1000, 3)
			src[0], src[1] = float32(math.Inf(1)), -0
			x := h.e.Alloc(backend.Activations, backend.F32, 10, 100)
			h.e.Upload(x, src)
			got := make([]float32, len(src))
			h.e.Download(x, got)
			for i := range src {
				if math.Float32bits(got[i]) != math.Float32bits(src[i]) {
					h.t.Fatalf("[%d]: got %v, want %v (fp32 must round-trip exactly)", i, got[i], src[i])
				}
			}
		}},
		{name: "upload_download_bf16", run: func(h *harness) {
			src := h.normal(1000, 100)
			x, got := h.input(backend.BF16, src, 1000)
			for i := range src {
				if d := math.Abs(got[i] - float64(src[i])); d > math.Abs(float64(src[i]))/256 {
					h.t.Fatalf("[%d]: got %v, want %v within 2^-8 relative", i, got[i], src[i])
				}
			}
			// Values already representable in bf16 round-trip exactly.
			h.e.Upload(x, f32(got))
			h.check("second round trip", h.get(x), got, 0)
		}},
		{name: "upload_download_i32", run: func(h *harness) {
			vals := []int32{0, -1, 1 << 30, -(1 << 31), 7}
			x := h.ints(vals, 5)
			got := h.getInts(x)
			for i := range vals {
				if got[i] != vals[i] {
					h.t.Fatalf("[%d]: got %d, want %d", i, got[i], vals[i])
				}
			}
		}},
		{name: "copy", run: func(h *harness) {
			src, want := h.input(backend.F32, h.normal(60, 1), 6, 10)
			dst := h.output(backend.F32, 60)
			h.e.Copy(dst, src)
			h.check("fp32 copy", h.get(dst), want, 0)
			bf := h.output(backend.BF16, 3, 20)
			h.e.Copy(bf, src)
			got := h.get(bf)
			for i := range got {
				if math.Abs(got[i]-want[i]) > math.Abs(want[i])/256 {
					h.t.Fatalf("fp32→bf16 copy [%d]: got %v, want %v", i, got[i], want[i])
				}
			}
			ids := h.ints([]int32{3, 1, 4, 1, 5}, 5)
			ido := h.output(backend.I32, 5)
			h.e.Copy(ido, ids)
			if g := h.getInts(ido); g[0] != 3 || g[4] != 5 {
				h.t.Fatalf("i32 copy: got %v", g)
			}
		}},
		{name: "copy_range", run: func(h *harness) {
			src, sv := h.input(backend.F32, h.normal(50, 1), 50)
			dst, dv := h.input(backend.F32, h.normal(40, 1), 4, 10)
			h.e.CopyRange(dst, 7, src, 20, 13)
			want := append([]float64(nil), dv...)
			copy(want[7:20], sv[20:33])
			h.check("copy range", h.get(dst), want, 0)
			ids := h.ints([]int32{1, 2, 3, 4}, 4)
			ido := h.ints([]int32{9, 9, 9, 9}, 4)
			h.e.CopyRange(ido, 1, ids, 2, 2)
			if g := h.getInts(ido); g[0] != 9 || g[1] != 3 || g[2] != 4 || g[3] != 9 {
				h.t.Fatalf("i32 copy range: got %v", g)
			}
		}},
		{name: "fill", run: func(h *harness) {
			x := h.output(backend.F32, 7, 3)
			h.e.Fill(x, 2.5)
			for _, v := range h.get(x) {
				if v != 2.5 {
					h.t.Fatalf("fill fp32: got %v", v)
				}
			}
			b := h.output(backend.BF16, 9)
			h.e.Fill(b, 1.0/3)
			for _, v := range h.get(b) {
				if math.Abs(v-1.0/3) > 1.0/3/256 {
					h.t.Fatalf("fill bf16: got %v", v)
				}
			}
			n := h.output(backend.I32, 4)
			h.e.Fill(n, 42)
			for _, v := range h.getInts(n) {
				if v != 42 {
					h.t.Fatalf("fill i32: got %v", v)
				}
			}
		}},
		{name: "pool_stats_reset", fresh: true, run: poolRow},
		{name: "sticky_error", fresh: true, run: stickyRow},
	}
}

// statsOf returns the stats of pool p.
func statsOf(h *harness, p backend.Pool) backend.PoolStats {
	for _, s := range h.e.PoolStats() {
		if s.Pool == p {
			return s
		}
	}
	h.t.Fatalf("PoolStats has no %q pool", p)
	return backend.PoolStats{}
}

// poolRow checks in-use and high-water accounting, Free and ResetPool.
func poolRow(h *harness) {
	stats := h.e.PoolStats()
	for _, p := range backend.Pools {
		found := false
		for _, s := range stats {
			found = found || s.Pool == p
		}
		if !found {
			h.t.Errorf("PoolStats lacks pool %q", p)
		}
	}
	before := statsOf(h, backend.Replay)
	a := h.e.Alloc(backend.Replay, backend.F32, 1000)
	b := h.e.Alloc(backend.Replay, backend.BF16, 10, 100)
	s1 := statsOf(h, backend.Replay)
	if s1.InUse-before.InUse < 4000+2000 || s1.HighWater < s1.InUse {
		h.t.Errorf("after allocating 6000 bytes: %+v (before %+v)", s1, before)
	}
	h.e.Free(a)
	s2 := statsOf(h, backend.Replay)
	if s2.InUse > s1.InUse-4000 || s2.HighWater < s1.InUse {
		h.t.Errorf("after freeing 4000 bytes: %+v (was %+v)", s2, s1)
	}
	w := h.e.Alloc(backend.Weights, backend.F32, 10)
	h.e.ResetPool(backend.Replay)
	s3 := statsOf(h, backend.Replay)
	if s3.InUse != 0 || s3.HighWater < s1.InUse {
		h.t.Errorf("after ResetPool: %+v, want in use 0 and high water ≥ %d", s3, s1.InUse)
	}
	if statsOf(h, backend.Weights).InUse < 40 {
		h.t.Errorf("ResetPool(replay) touched the weights pool: %+v", statsOf(h, backend.Weights))
	}
	h.e.Fill(w, 1)
	if err := h.e.Err(); err != nil {
		h.t.Fatalf("unexpected error: %v", err)
	}
	h.e.Fill(b, 1) // b was freed by ResetPool
	if h.e.Err() == nil {
		h.t.Errorf("using a tensor freed by ResetPool did not set the sticky error")
	}
}

// stickyRow checks that a bad shape sets the sticky error without a panic,
// that the first error is kept and that later ops are harmless.
func stickyRow(h *harness) {
	a := h.e.Alloc(backend.Activations, backend.F32, 4, 3)
	b := h.e.Alloc(backend.Activations, backend.F32, 5, 2)
	c := h.e.Alloc(backend.Activations, backend.F32, 4, 2)
	h.e.MatMul(c, a, b, backend.MatMulParams{Alpha: 1})
	first := h.e.Err()
	if first == nil {
		h.t.Fatalf("MatMul [4,3]·[5,2] did not set the sticky error")
	}
	if err := h.e.Sync(); err == nil || err.Error() != first.Error() {
		h.t.Errorf("Sync returned %v, want the sticky error %v", err, first)
	}
	h.e.Add(c, a, b) // another mismatch: the first error must stay
	h.e.AttentionForward(c, c, a, b, c, backend.AttnParams{Heads: 3, KVHeads: 2, HeadDim: 1})
	h.e.Fill(c, 1)
	if err := h.e.Err(); err == nil || err.Error() != first.Error() {
		h.t.Errorf("after more ops Err is %v, want the first error %v", err, first)
	}
}
