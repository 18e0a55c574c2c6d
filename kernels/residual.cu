// residual.cu: the small elementwise ops: add (residual), scale, add bias,
// bias backward (column sums), fill and copy range with dtype conversion.
// All are grid-stride loops over flat element indices.
#include "common.cuh"

#define GRID_STRIDE(i, n) \
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// out = a + b (out may alias a or b).
extern "C" __global__ void add(void* out, int dto, const void* a, int dta, const void* b, int dtb, i64 n) {
  GRID_STRIDE(i, n) { stf(out, dto, i, ldf(a, dta, i) + ldf(b, dtb, i)); }
}

// t *= s in place.
extern "C" __global__ void scale(void* t, int dt, float s, i64 n) {
  GRID_STRIDE(i, n) { stf(t, dt, i, ldf(t, dt, i) * s); }
}

// x[n, c] += bias[c] for x [rows, C].
extern "C" __global__ void add_bias(void* x, int dtx, const void* bias, int dtb, i64 rows, int C) {
  GRID_STRIDE(i, rows * C) { stf(x, dtx, i, ldf(x, dtx, i) + ldf(bias, dtb, i % C)); }
}

// colsum: column sums of src [rows, C], deterministic. grid (ceil(C/32),
// chunks), block (32, 8). Chunk y sums rows [y*R, min(rows, (y+1)*R)) and
// writes dst[y*C + c] (accumulate = 0) or adds onto it (accumulate = 1).
// Bias backward is colsum(dbias, accumulate = 1) over dout, in one chunk or
// two stages (chunk partials in fp32, then one chunk over the partials).
extern "C" __global__ void colsum(void* dst, int dtd, int accumulate, const void* src, int dts, i64 rows,
                                  int C, i64 R) {
  __shared__ float part[8][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  i64 r0 = (i64)blockIdx.y * R, r1 = min(rows, r0 + R);
  float acc = 0.f;
  if (c < C) {
    for (i64 r = r0 + threadIdx.y; r < r1; r += 8) acc += ldf(src, dts, r * C + c);
  }
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < 8; k++) s += part[k][threadIdx.x];
    i64 at = (i64)blockIdx.y * C + c;
    if (accumulate) s += ldf(dst, dtd, at);
    stf(dst, dtd, at, s);
  }
}

// copy_range: dst[dstOff + i] = src[srcOff + i] for i < n, converting the
// dtype when they differ (fp32 <-> bf16, rounding to nearest even).
extern "C" __global__ void copy_range(void* dst, int dtd, i64 dstOff, const void* src, int dts, i64 srcOff,
                                      i64 n) {
  GRID_STRIDE(i, n) {
    if (dtd == DT_I32 && dts == DT_I32) {
      ((int*)dst)[dstOff + i] = ((const int*)src)[srcOff + i];
    } else {
      stf(dst, dtd, dstOff + i, ldf(src, dts, srcOff + i));
    }
  }
}
