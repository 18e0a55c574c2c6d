//go:build amd64 && !purego

package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// avx2Kernel is the AVX2+FMA 6×16 micro-kernel of gemm_amd64.s.
var avx2Kernel = gemmKernel{name: "avx2", mr: 6, nr: 16, micro: microAVX2, full: fullAVX2}

// bestKernel picks the AVX2 kernel when the CPU and OS support it.
func bestKernel() gemmKernel {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return avx2Kernel
	}
	return goKernel
}

// microAVX2 writes the 6×16 tile sums to acc.
func microAVX2(kc int, a, b, acc []float32) {
	_ = a[6*kc-1]
	_ = b[16*kc-1]
	_ = acc[95]
	sgemm6x16(kc, unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&acc[0]), 16, 1, 0, mergeStore)
}

// fullAVX2 merges a full 6×16 tile into c (row stride ldc) as storeTile does.
func fullAVX2(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[6*kc-1]
	_ = b[16*kc-1]
	_ = c[5*ldc+15]
	sgemm6x16(kc, unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0]), ldc, alpha, beta, mode)
}

// sgemm6x16 computes the tile t[i][j] = Σ_p a[p*6+i]·b[p*16+j] (p < kc) and
// merges it into c: mergeStore c = alpha·t, mergeAccum c += alpha·t,
// mergeBlend c = beta·c + alpha·t.
//
//go:noescape
func sgemm6x16(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int)
