// adamw.cu: AdamW step as torch.optim.AdamW and the CPU engine compute it:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p * decay - step * m / (sqrt(v) * rbc2 + eps)
// with decay = 1 - lr wd, step = lr / (1 - b1^t), rbc2 = 1 / sqrt(1 - b2^t)
// computed on the host exactly as the CPU engine does. Every product and
// sum is rounded separately (__fmul_rn, __fadd_rn: no FMA contraction), so
// fp32 results match the CPU engine bit for bit. Any float dtype for p, g,
// m, v; copy (optional, bf16) receives the updated parameter: the bf16
// working copy of an fp32 master weight.
#include "common.cuh"

extern "C" __global__ void adamw(void* p, int dtp, const void* g, int dtg, void* m, int dtm, void* v, int dtv,
                                 unsigned short* copy, i64 n, float b1, float b2, float eps, float decay, float step,
                                 float rbc2) {
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float gr = ldf(g, dtg, i);
    float mi = __fadd_rn(__fmul_rn(b1, ldf(m, dtm, i)), __fmul_rn(1.0f - b1, gr));
    float vi = __fadd_rn(__fmul_rn(b2, ldf(v, dtv, i)), __fmul_rn(__fmul_rn(1.0f - b2, gr), gr));
    stf(m, dtm, i, mi);
    stf(v, dtv, i, vi);
    float denom = __fadd_rn(__fmul_rn(sqrtf(vi), rbc2), eps);
    float x = __fsub_rn(__fmul_rn(ldf(p, dtp, i), decay), __fdiv_rn(__fmul_rn(step, mi), denom));
    stf(p, dtp, i, x);
    if (copy) copy[i] = f32_to_bf16(x);
  }
}
