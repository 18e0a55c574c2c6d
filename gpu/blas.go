//go:build cuda && !cudaemu

package gpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef int (*fn_create)(void**);
typedef int (*fn_destroy)(void*);
typedef int (*fn_set_stream)(void*, void*);
typedef int (*fn_set_math)(void*, int);
typedef int (*fn_gemm)(void*, int, int, int, int, int, const void*, const void*, int, int, long long,
		const void*, int, int, long long, const void*, void*, int, int, long long, int, int, int);

typedef struct {
	void* lib;
	void* handle;
	fn_destroy destroy;
	fn_set_stream set_stream;
	fn_gemm gemm;
} sirl_blas;

// sirl_blas_open opens cuBLAS (name), creates a handle bound to stream and
// resolves the GEMM. Returns 0, or -1 (dlopen), -2 (symbols), or the
// cublasStatus of cublasCreate.
static int sirl_blas_open(sirl_blas* b, const char* name, void* stream) {
	b->lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!b->lib) return -1;
	fn_create create = (fn_create)dlsym(b->lib, "cublasCreate_v2");
	fn_set_math set_math = (fn_set_math)dlsym(b->lib, "cublasSetMathMode");
	b->destroy = (fn_destroy)dlsym(b->lib, "cublasDestroy_v2");
	b->set_stream = (fn_set_stream)dlsym(b->lib, "cublasSetStream_v2");
	b->gemm = (fn_gemm)dlsym(b->lib, "cublasGemmStridedBatchedEx");
	if (!create || !b->destroy || !b->set_stream || !b->gemm) {
		dlclose(b->lib);
		b->lib = 0;
		return -2;
	}
	int r = create(&b->handle);
	if (r != 0) return r;
	if (set_math) set_math(b->handle, 0); // CUBLAS_DEFAULT_MATH: no TF32 for fp32
	return b->set_stream(b->handle, stream);
}

// Device pointers arrive as integers (CUdeviceptr) and are cast here.
static int sirl_blas_gemm(sirl_blas* b, int ta, int tb, int m, int n, int k, const float* alpha,
		unsigned long long A, int at, int lda, long long sa, unsigned long long B, int bt, int ldb, long long sb,
		const float* beta, unsigned long long C, int ct, int ldc, long long sc, int batch) {
	// CUBLAS_COMPUTE_32F = 68, CUBLAS_GEMM_DEFAULT = -1
	return b->gemm(b->handle, ta, tb, m, n, k, alpha, (const void*)A, at, lda, sa, (const void*)B, bt, ldb, sb,
		beta, (void*)C, ct, ldc, sc, batch, 68, -1);
}

static void sirl_blas_close(sirl_blas* b) {
	if (b->handle) b->destroy(b->handle);
	b->handle = 0;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sirl-dev/sirl/backend"
	"gorgonia.org/cu"
)

// blasNames are the cuBLAS sonames tried in turn.
var blasNames = [...]string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}

// blas is cuBLAS opened with dlopen, bound to the engine's stream. Used only
// on the CUDA goroutine.
type blas struct {
	b    *C.sirl_blas
	name string
}

// openBLAS tries each soname; it returns an error listing why none opened.
func openBLAS(stream cu.Stream) (*blas, error) {
	b := (*C.sirl_blas)(C.calloc(1, C.size_t(unsafe.Sizeof(C.sirl_blas{}))))
	var why []string
	for _, n := range blasNames {
		cn := C.CString(n)
		r := C.sirl_blas_open(b, cn, unsafe.Pointer(stream.C()))
		C.free(unsafe.Pointer(cn))
		switch {
		case r == 0:
			return &blas{b: b, name: n}, nil
		case r == -1:
			why = append(why, n+": not found")
		case r == -2:
			why = append(why, n+": missing symbols")
		default:
			why = append(why, fmt.Sprintf("%s: cublasCreate failed (status %d)", n, int(r)))
		}
	}
	C.free(unsafe.Pointer(b))
	return nil, fmt.Errorf("cuBLAS: %v", why)
}

func (b *blas) close() {
	C.sirl_blas_close(b.b)
	C.free(unsafe.Pointer(b.b))
}

// cudaDataType codes (library_types.h).
const (
	cudaR32F  = 0
	cudaR16BF = 14
)

func blasType(dt backend.DType) C.int {
	if dt == backend.BF16 {
		return cudaR16BF
	}
	return cudaR32F
}

// gemm runs one column-major product (see gemmDesc.colMajor) through cuBLAS.
func (b *blas) gemm(g colGemm) error {
	op := func(t bool) C.int {
		if t {
			return 1
		}
		return 0
	}
	alpha, beta := C.float(g.alpha), C.float(g.beta)
	r := C.sirl_blas_gemm(b.b, op(g.transA), op(g.transB), C.int(g.m), C.int(g.n), C.int(g.k), &alpha,
		C.ulonglong(g.a), blasType(g.at), C.int(g.lda), C.longlong(g.sa),
		C.ulonglong(g.b), blasType(g.bt), C.int(g.ldb), C.longlong(g.sb),
		&beta, C.ulonglong(g.c), blasType(g.ct), C.int(g.ldc), C.longlong(g.sc), C.int(g.batch))
	if r != 0 {
		return fmt.Errorf("cublasGemmStridedBatchedEx(m %d n %d k %d batch %d): status %d", g.m, g.n, g.k, g.batch, int(r))
	}
	return nil
}
