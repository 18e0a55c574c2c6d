// matmul.cu: a portable tiled GEMM on CUDA cores, the fallback when cuBLAS
// cannot be loaded (and the fp32 reference path on the GPU).
//   C[b] = alpha op(A[b]) op(B[b]) + beta C[b], row-major, op(X) = X or X^T
// A is M x K (K x M when ta), B is K x N (N x K when tb), C is M x N, each
// with its leading dimension and batch stride (0 = shared). With beta = 0
// C is not read (so NaN in C does not leak).
#include "common.cuh"

#define GT 64 // tile of C per block
#define GK 16 // k step

// grid (ceil(N/64), ceil(M/64), batch), block (16, 16); each thread 4x4 of C.
extern "C" __global__ void gemm_simt(void* Cm, int dtc, const void* A, int dta, const void* Bm, int dtb, int M,
                                     int N, int K, int ta, int tb, i64 lda, i64 ldb, i64 ldc, i64 sA, i64 sB, i64 sC,
                                     float alpha, float beta) {
  __shared__ float As[GK][GT + 1];
  __shared__ float Bs[GK][GT + 1];
  int bz = blockIdx.z;
  i64 oa = bz * sA, ob = bz * sB, oc = bz * sC;
  int m0 = blockIdx.y * GT, n0 = blockIdx.x * GT;
  int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  for (int k0 = 0; k0 < K; k0 += GK) {
    for (int e = tid; e < GK * GT; e += 256) {
      int kk = e / GT, r = e % GT;
      int gm = m0 + r, gk = k0 + kk, gn = n0 + r;
      float a = 0.f, b = 0.f;
      if (gm < M && gk < K) a = ldf(A, dta, oa + (ta ? (i64)gk * lda + gm : (i64)gm * lda + gk));
      if (gn < N && gk < K) b = ldf(Bm, dtb, ob + (tb ? (i64)gn * ldb + gk : (i64)gk * ldb + gn));
      As[kk][r] = a;
      Bs[kk][r] = b;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < GK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        a[i] = As[kk][ty + 16 * i];
        b[i] = Bs[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int gm = m0 + ty + 16 * i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int gn = n0 + tx + 16 * j;
      if (gn >= N) continue;
      i64 at = oc + (i64)gm * ldc + gn;
      float r = alpha * acc[i][j];
      if (beta != 0.f) r += beta * ldf(Cm, dtc, at);
      stf(Cm, dtc, at, r);
    }
  }
}
