//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"unsafe"
)

// Gemm is one cublasGemmStridedBatchedEx call (COLUMN-major, as cuBLAS):
// for each batch i, C_i = Alpha op(A_i) op(B_i) + Beta C_i with op(A) M x K
// (A stored M x K, or K x M when TransA), op(B) K x N (B stored K x N, or
// N x K when TransB), C M x N; LD* are leading dimensions and Stride* batch
// strides, in elements. Pointers are device addresses (Device.Alloc).
type Gemm struct {
	TransA, TransB            bool
	M, N, K                   int
	Alpha, Beta               float32
	A, B, C                   uintptr
	AType, BType, CType       DType
	LDA, LDB, LDC             int
	StrideA, StrideB, StrideC int64
	Batch                     int
}

func (t DType) size() int64 {
	if t == BF16 {
		return 2
	}
	return 4
}

func (t DType) String() string {
	switch t {
	case F32:
		return "CUDA_R_32F"
	case BF16:
		return "CUDA_R_16BF"
	}
	return fmt.Sprintf("dtype(%d)", int(t))
}

// GemmStridedBatched computes g on the host with fp32 inputs widened to
// float64, float64 accumulation and one rounding to the output type (bf16
// rounds to nearest even). It checks the arguments as cuBLAS does
// (CUBLAS_STATUS_INVALID_VALUE, CUBLAS_STATUS_NOT_SUPPORTED) and every
// matrix's extent against the allocations. With Beta = 0, C is not read.
func (d *Device) GemmStridedBatched(g Gemm) error {
	fail := func(status, f string, a ...any) error {
		return fmt.Errorf("emu: cublasGemmStridedBatchedEx(m %d n %d k %d batch %d): %s: %s", g.M, g.N, g.K, g.Batch,
			status, fmt.Sprintf(f, a...))
	}
	const inval, notsup = "CUBLAS_STATUS_INVALID_VALUE", "CUBLAS_STATUS_NOT_SUPPORTED"
	if g.M < 0 || g.N < 0 || g.K < 0 || g.Batch < 0 {
		return fail(inval, "negative dimension")
	}
	for _, t := range []DType{g.AType, g.BType, g.CType} {
		if t != F32 && t != BF16 {
			return fail(notsup, "type %v", t)
		}
	}
	// CUBLAS_COMPUTE_32F takes A and B of one type: fp32 with an fp32 C, or
	// bf16 with a bf16 or fp32 C.
	if g.AType != g.BType || (g.AType == F32 && g.CType != F32) {
		return fail(notsup, "A %v, B %v, C %v with CUBLAS_COMPUTE_32F", g.AType, g.BType, g.CType)
	}
	rowsA, colsA := g.M, g.K
	if g.TransA {
		rowsA, colsA = g.K, g.M
	}
	rowsB, colsB := g.K, g.N
	if g.TransB {
		rowsB, colsB = g.N, g.K
	}
	if g.LDA < max(1, rowsA) {
		return fail(inval, "lda %d < max(1, %d), the rows of A as stored (transa %v)", g.LDA, rowsA, g.TransA)
	}
	if g.LDB < max(1, rowsB) {
		return fail(inval, "ldb %d < max(1, %d), the rows of B as stored (transb %v)", g.LDB, rowsB, g.TransB)
	}
	if g.LDC < max(1, g.M) {
		return fail(inval, "ldc %d < max(1, m %d)", g.LDC, g.M)
	}
	if g.StrideA < 0 || g.StrideB < 0 || g.StrideC < 0 {
		return fail(inval, "negative batch stride")
	}
	if g.M == 0 || g.N == 0 || g.Batch == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fail(inval, "device closed")
	}
	view := func(name string, p uintptr, t DType, rows, cols, ld int, stride int64) (unsafe.Pointer, error) {
		if rows == 0 || cols == 0 {
			return nil, nil
		}
		n := int64(g.Batch-1)*stride + int64(cols-1)*int64(ld) + int64(rows)
		if _, ok := d.find(p, n*t.size()); !ok {
			return nil, fail(inval, "%s (%#x, %d elements of %v with ld %d, stride %d) is not inside one allocation",
				name, p, n, t, ld, stride)
		}
		return d.hostPtr(p), nil
	}
	pa, err := view("A", g.A, g.AType, rowsA, colsA, g.LDA, g.StrideA)
	if err != nil {
		return err
	}
	pb, err := view("B", g.B, g.BType, rowsB, colsB, g.LDB, g.StrideB)
	if err != nil {
		return err
	}
	pc, err := view("C", g.C, g.CType, g.M, g.N, g.LDC, g.StrideC)
	if err != nil {
		return err
	}
	a := make([]float64, g.M*g.K) // op(A) row i at a[i*K:]
	b := make([]float64, g.K)     // op(B) column j
	for bi := 0; bi < g.Batch; bi++ {
		oa, ob, oc := int64(bi)*g.StrideA, int64(bi)*g.StrideB, int64(bi)*g.StrideC
		for i := 0; i < g.M; i++ {
			for l := 0; l < g.K; l++ {
				at := oa + int64(l)*int64(g.LDA) + int64(i) // A(i, l) stored M x K
				if g.TransA {
					at = oa + int64(i)*int64(g.LDA) + int64(l) // A stored K x M
				}
				a[i*g.K+l] = load(pa, g.AType, at)
			}
		}
		for j := 0; j < g.N; j++ {
			for l := 0; l < g.K; l++ {
				at := ob + int64(j)*int64(g.LDB) + int64(l) // B(l, j) stored K x N
				if g.TransB {
					at = ob + int64(l)*int64(g.LDB) + int64(j) // B stored N x K
				}
				b[l] = load(pb, g.BType, at)
			}
			for i := 0; i < g.M; i++ {
				var s float64
				row := a[i*g.K : (i+1)*g.K]
				for l, x := range row {
					s += x * b[l]
				}
				at := oc + int64(j)*int64(g.LDC) + int64(i)
				r := float64(g.Alpha) * s
				if g.Beta != 0 {
					r += float64(g.Beta) * load(pc, g.CType, at)
				}
				store(pc, g.CType, at, float32(r))
			}
		}
	}
	return nil
}

func load(p unsafe.Pointer, t DType, i int64) float64 {
	if t == BF16 {
		return float64(math.Float32frombits(uint32(*(*uint16)(unsafe.Add(p, 2*i))) << 16))
	}
	return float64(*(*float32)(unsafe.Add(p, 4*i)))
}

func store(p unsafe.Pointer, t DType, i int64, v float32) {
	if t == BF16 {
		*(*uint16)(unsafe.Add(p, 2*i)) = BF16Bits(v)
		return
	}
	*(*float32)(unsafe.Add(p, 4*i)) = v
}

// BF16Bits rounds v to bf16 (nearest even; NaN stays NaN), the rule of
// common.cuh's f32_to_bf16 and of the CPU engine.
func BF16Bits(v float32) uint16 {
	u := math.Float32bits(v)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}
