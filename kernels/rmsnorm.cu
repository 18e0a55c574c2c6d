// rmsnorm.cu: RMSNorm over the last dimension, forward and backward.
//
//   rstd[n] = 1 / sqrt(mean_c x[n,c]^2 + eps)
//   out[n,c] = (x[n,c] * rstd[n]) * w[c]
// Backward, with g = dout * w and xh = x * rstd:
//   dx = rstd * (g - xh * mean_c(g * xh))
//   dw[c] += sum_n dout[n,c] * xh[n,c]   (per-block partials, then colsum)
#include "common.cuh"

// grid (N), block 256: one row per block.
extern "C" __global__ void rmsnorm_fwd(void* out, int dto, float* rstd, const void* x, int dtx,
                                       const void* w, int dtw, int N, int C, float eps) {
  __shared__ float sh[32];
  int n = blockIdx.x;
  if (n >= N) return;
  const i64 base = (i64)n * C;
  float ss = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float v = ldf(x, dtx, base + c);
    ss += v * v;
  }
  ss = block_sum(ss, sh);
  float r = 1.0f / sqrtf(ss / (float)C + eps);
  if (threadIdx.x == 0) rstd[n] = r;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    stf(out, dto, base + c, (ldf(x, dtx, base + c) * r) * ldf(w, dtw, c));
  }
}

// grid (nb), block 256. Block b handles rows [b*R, min(N, (b+1)*R)) and
// writes its dw partial sums to dwpart[b*C + c] (fp32); colsum then adds
// the nb partials onto dw in a fixed order.
extern "C" __global__ void rmsnorm_bwd(void* dx, int dtdx, float* dwpart, const void* dout, int dtdo,
                                       const void* x, int dtx, const void* w, int dtw, const float* rstd,
                                       int N, int C, int R) {
  __shared__ float sh[32];
  int b = blockIdx.x;
  int n0 = b * R, n1 = min(N, n0 + R);
  float* part = dwpart + (i64)b * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) part[c] = 0.f;
  for (int n = n0; n < n1; n++) {
    const i64 base = (i64)n * C;
    float r = rstd[n];
    float dot = 0.f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      float go = ldf(dout, dtdo, base + c);
      float xh = ldf(x, dtx, base + c) * r;
      dot += go * ldf(w, dtw, c) * xh;
      part[c] += go * xh;
    }
    dot = block_sum(dot, sh) / (float)C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      float g = ldf(dout, dtdo, base + c) * ldf(w, dtw, c);
      float xh = ldf(x, dtx, base + c) * r;
      stf(dx, dtdx, base + c, r * (g - xh * dot));
    }
  }
}
