//go:build amd64 && !purego

package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// avx2Kernel is the AVX2+FMA 6×16 micro-kernel of gemm_amd64.s.
var avx2Kernel = gemmKernel{name: "avx2", mr: 6, nr: 16, micro: microAVX2, full: fullAVX2}

// avx512Kernel is the AVX-512 12×32 micro-kernel of gemm_avx512_amd64.s.
var avx512Kernel = gemmKernel{name: "avx512", mr: 12, nr: 32, micro: microAVX512, full: fullAVX512, strided: stridedAVX512}

// gemmKernels lists the micro-kernels this CPU runs, best first. All of
// them give bitwise-identical results.
func gemmKernels() []gemmKernel {
	var ks []gemmKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, goKernel)
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

// microAVX512 writes the 12×32 tile sums of packed panels to acc.
func microAVX512(kc int, a, b, acc []float32) {
	_ = a[12*kc-1]
	_ = b[32*kc-1]
	_ = acc[12*32-1]
	sgemm12x32p(kc, unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&acc[0]), 32, 1, 0, mergeStore, 12, 32)
}

// fullAVX512 merges a full 12×32 tile of packed panels into c (row stride
// ldc) as storeTile does.
func fullAVX512(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[12*kc-1]
	_ = b[32*kc-1]
	_ = c[11*ldc+31]
	sgemm12x32p(kc, unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0]), ldc, alpha, beta, mode, 12, 32)
}

// stridedAVX512 is fullAVX512 reading the panels in place (see
// gemmKernel.strided).
func stridedAVX512(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc int, alpha, beta float32, mode int) {
	_ = a[11*ars+(kc-1)*aps]
	_ = b[(kc-1)*bps+31]
	_ = c[11*ldc+31]
	if ars == 1 {
		sgemm12x32p(kc, unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0]), ldc, alpha, beta, mode, aps, bps)
		return
	}
	if aps != 1 {
		panic("cpu: stridedAVX512: A must be p-major or i-major")
	}
	sgemm12x32r(kc, unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0]), ldc, alpha, beta, mode, ars, bps)
}

// sgemm6x16 computes the tile t[i][j] = Σ_p a[p*6+i]·b[p*16+j] (p < kc,
// one fused multiply-add chain per output, p in order) and merges it into c:
// mergeStore c = alpha·t, mergeAccum c += alpha·t, mergeBlend
// c = beta·c + alpha·t (each product and sum rounded separately).
//
//go:noescape
func sgemm6x16(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int)

// sgemm12x32p is sgemm6x16 for a 12×32 tile with AVX-512, A element (i, p)
// at a[p·astep+i] and B element (p, j) at b[p·bstep+j].
//
//go:noescape
func sgemm12x32p(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int, astep, bstep int)

// sgemm12x32r is sgemm12x32p with A element (i, p) at a[i·astride+p].
//
//go:noescape
func sgemm12x32r(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int, astride, bstep int)
