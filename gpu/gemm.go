//go:build cuda || cudaemu

package gpu

import "github.com/sirl-dev/sirl/backend"

// gemmDesc is one row-major batched product
// C[i] = alpha op(A[i]) op(B[i]) + beta C[i], with leading dimensions
// (row lengths as stored) and batch strides in elements.
type gemmDesc struct {
	transA, transB bool
	m, n, k        int
	a, b, c        devPtr
	at, bt, ct     backend.DType
	lda, ldb, ldc  int
	sa, sb, sc     int64
	batch          int
	alpha, beta    float32
}

// supported reports whether cuBLAS takes these dtypes: A and B equal, fp32
// with an fp32 C, or bf16 with a bf16 or fp32 C.
func (g gemmDesc) supported() bool {
	if g.at != g.bt {
		return false
	}
	if g.at == backend.F32 {
		return g.ct == backend.F32
	}
	return g.at == backend.BF16 && (g.ct == backend.BF16 || g.ct == backend.F32)
}

// colGemm is the argument list of cublasGemmStridedBatchedEx: a
// column-major C = alpha op(A) op(B) + beta C with op(A) m×k, op(B) k×n,
// fp32 accumulation.
type colGemm struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        devPtr
	at, bt, ct     backend.DType
	lda, ldb, ldc  int
	sa, sb, sc     int64
	batch          int
}

// colMajor maps the row-major product onto cuBLAS: row-major C = op(A)·op(B)
// is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so B goes first and m, n swap.
func (g gemmDesc) colMajor() colGemm {
	return colGemm{
		transA: g.transB, transB: g.transA,
		m: g.n, n: g.m, k: g.k,
		alpha: g.alpha, beta: g.beta,
		a: g.b, at: g.bt, lda: g.ldb, sa: g.sb,
		b: g.a, bt: g.at, ldb: g.lda, sb: g.sa,
		c: g.c, ct: g.ct, ldc: g.ldc, sc: g.sc,
		batch: g.batch,
	}
}
