//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func bf16Float(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// gemmCase fills A, B, C with random values (in their dtypes), runs g and
// compares C with a float64 reference written independently: the stored
// element of op(X)(r, c) is looked up through explicit row/column maps.
func gemmCase(t *testing.T, d *Device, g Gemm, rng *rand.Rand) {
	t.Helper()
	rowsA, colsA := g.M, g.K
	if g.TransA {
		rowsA, colsA = g.K, g.M
	}
	rowsB, colsB := g.K, g.N
	if g.TransB {
		rowsB, colsB = g.N, g.K
	}
	size := func(rows, cols, ld int, stride int64) int64 {
		return int64(g.Batch-1)*stride + int64(cols-1)*int64(ld) + int64(rows)
	}
	na, nb, nc := size(rowsA, colsA, g.LDA, g.StrideA), size(rowsB, colsB, g.LDB, g.StrideB),
		size(g.M, g.N, g.LDC, g.StrideC)
	mk := func(n int64, t DType) (buf, []float64) {
		b := alloc(nil, d, n*t.size())
		vals := make([]float64, n)
		for i := range vals {
			v := float32(rng.NormFloat64())
			if t == BF16 {
				h := BF16Bits(v)
				b.u16()[i] = h
				vals[i] = float64(bf16Float(h))
			} else {
				b.f32()[i] = v
				vals[i] = float64(v)
			}
		}
		return b, vals
	}
	A, av := mk(na, g.AType)
	B, bv := mk(nb, g.BType)
	C, cv := mk(nc, g.CType)
	if g.Beta == 0 { // cuBLAS does not read C: NaN there must not leak
		for i := range C.bytes() {
			C.bytes()[i] = 0xFF
		}
		for i := range cv {
			cv[i] = math.NaN()
		}
	}
	g.A, g.B, g.C = A.addr, B.addr, C.addr
	if err := d.GemmStridedBatched(g); err != nil {
		t.Fatal(err)
	}
	opA := func(bi, r, c int) float64 { // op(A)(r, c), r < M, c < K
		if g.TransA {
			r, c = c, r
		}
		return av[int64(bi)*g.StrideA+int64(c)*int64(g.LDA)+int64(r)]
	}
	opB := func(bi, r, c int) float64 {
		if g.TransB {
			r, c = c, r
		}
		return bv[int64(bi)*g.StrideB+int64(c)*int64(g.LDB)+int64(r)]
	}
	for bi := 0; bi < g.Batch; bi++ {
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				at := int64(bi)*g.StrideC + int64(j)*int64(g.LDC) + int64(i)
				var s float64
				for l := 0; l < g.K; l++ {
					s += opA(bi, i, l) * opB(bi, l, j)
				}
				want := float64(g.Alpha) * s
				if g.Beta != 0 {
					want += float64(g.Beta) * cv[at]
				}
				var got float64
				tol := 1e-5 * (1 + math.Abs(want))
				if g.CType == BF16 {
					got = float64(bf16Float(C.u16()[at]))
					tol = 1.0 / 128 * (1 + math.Abs(want))
				} else {
					got = float64(C.f32()[at])
				}
				if !(math.Abs(got-want) <= tol) { // NaN fails
					t.Fatalf("%+v: C[batch %d](%d,%d) = %v, want %v", g, bi, i, j, got, want)
				}
			}
		}
	}
	// padding rows of C (between M and LDC) are untouched
	for bi := 0; bi < g.Batch; bi++ {
		for j := 0; j < g.N; j++ {
			for i := g.M; i < g.LDC && int64(bi)*g.StrideC+int64(j)*int64(g.LDC)+int64(i) < nc; i++ {
				at := int64(bi)*g.StrideC + int64(j)*int64(g.LDC) + int64(i)
				var got float64
				if g.CType == BF16 {
					got = float64(bf16Float(C.u16()[at]))
				} else {
					got = float64(C.f32()[at])
				}
				if got != cv[at] && !(math.IsNaN(got) && math.IsNaN(cv[at])) {
					t.Fatalf("%+v: C padding [batch %d](%d,%d) changed", g, bi, i, j)
				}
			}
		}
	}
}

func TestGemmReference(t *testing.T) {
	d, err := Open(Options{CacheDir: testCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	types := [][3]DType{{F32, F32, F32}, {BF16, BF16, BF16}, {BF16, BF16, F32}}
	for _, ty := range types {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				m, n, k := 5, 7, 3
				rowsA, rowsB := m, k
				if ta {
					rowsA = k
				}
				if tb {
					rowsB = n
				}
				g := Gemm{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 0.75, Beta: 0.5,
					AType: ty[0], BType: ty[1], CType: ty[2],
					LDA: rowsA + 2, LDB: rowsB + 1, LDC: m + 3, Batch: 3}
				g.StrideA = int64(g.LDA*max(m, k)) + 5
				g.StrideB = int64(g.LDB*max(n, k)) + 3
				g.StrideC = int64(g.LDC*n) + 1
				t.Run(fmt.Sprintf("%v%v%v_ta%v_tb%v", ty[0], ty[1], ty[2], ta, tb), func(t *testing.T) {
					gemmCase(t, d, g, rng)
				})
			}
		}
	}
	// shared B (stride 0) and beta 0 (C not read: NaN does not leak)
	t.Run("strideB0_beta0", func(t *testing.T) {
		g := Gemm{M: 4, N: 3, K: 6, Alpha: 1, AType: F32, BType: F32, CType: F32, LDA: 4, LDB: 6, LDC: 4,
			StrideA: 24, StrideB: 0, StrideC: 12, Batch: 2}
		gemmCase(t, d, g, rng)
	})
}

func TestGemmErrors(t *testing.T) {
	d, err := Open(Options{CacheDir: testCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a := alloc(t, d, 4*64)
	small := alloc(t, d, 4*8)
	ok := Gemm{M: 4, N: 4, K: 4, Alpha: 1, A: a.addr, B: a.addr, C: a.addr, LDA: 4, LDB: 4, LDC: 4, Batch: 1}
	if err := d.GemmStridedBatched(ok); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*Gemm)
		want string
	}{
		{"lda", func(g *Gemm) { g.LDA = 3 }, "lda 3 < max(1, 4)"},
		{"lda_trans", func(g *Gemm) { g.TransA, g.M, g.LDA = true, 2, 2 }, "lda 2 < max(1, 4)"},
		{"ldb", func(g *Gemm) { g.TransB, g.N, g.LDB = true, 8, 4 }, "ldb 4 < max(1, 8)"},
		{"ldc", func(g *Gemm) { g.LDC = 2 }, "ldc 2 < max(1, m 4)"},
		{"types", func(g *Gemm) { g.BType = BF16 }, "CUBLAS_STATUS_NOT_SUPPORTED"},
		{"f32_to_bf16", func(g *Gemm) { g.CType = BF16 }, "CUBLAS_STATUS_NOT_SUPPORTED"},
		{"extent", func(g *Gemm) { g.B = small.addr }, "B (0x"},
		{"batch_extent", func(g *Gemm) { g.Batch, g.StrideC = 2, 60 }, "C (0x"},
		{"wild", func(g *Gemm) { g.A = 16 }, "not inside one allocation"},
	}
	for _, c := range cases {
		g := ok
		c.edit(&g)
		err := d.GemmStridedBatched(g)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}
