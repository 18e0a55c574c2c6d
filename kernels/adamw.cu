// adamw.cu: AdamW step (decoupled weight decay, as torch.optim.AdamW), fp32
// moments; the parameter is fp32 (master) or bf16, and an optional bf16
// working copy is written from the updated fp32 value.
//   p -= lr * wd * p
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps),  bc1 = 1 - b1^t, bc2 = 1 - b2^t
#include "common.cuh"

extern "C" __global__ void adamw(void* p, int dtp, const void* g, int dtg, float* m, float* v, unsigned short* copy,
                                 i64 n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float x = ldf(p, dtp, i), gr = ldf(g, dtg, i);
    x -= lr * wd * x;
    float mi = b1 * m[i] + (1.0f - b1) * gr;
    float vi = b2 * v[i] + (1.0f - b2) * gr * gr;
    m[i] = mi;
    v[i] = vi;
    x -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    stf(p, dtp, i, x);
    if (copy) copy[i] = f32_to_bf16(x);
  }
}
