// rope.cu: rotary position embedding, rotate-half layout (Hugging Face Llama):
// for i < D/2, with angle = pos * theta^(-2i/D),
//   forward: x1' = x1 cos - x2 sin,  x2' = x2 cos + x1 sin  (x1 = x[i], x2 = x[i+D/2])
//   backward (inverse rotation of the gradient):
//            d1' = d1 cos + d2 sin,  d2' = d2 cos - d1 sin
// The angle and its sine and cosine are computed in float64, so long
// positions keep fp32 accuracy.
#include "common.cuh"

// One thread per (n, head, i < D/2); in place on x [N, heads, D].
extern "C" __global__ void rope(void* x, int dt, const int* pos, i64 N, int heads, int D, float theta,
                                int inverse) {
  int half = D / 2;
  i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 total = N * heads * half;
  if (idx >= total) return;
  int i = (int)(idx % half);
  i64 nh = idx / half;
  i64 n = nh / heads;
  double inv = pow((double)theta, -2.0 * (double)i / (double)D);
  double ang = (double)pos[n] * inv;
  double sd, cd;
  sincos(ang, &sd, &cd);
  float s = (float)sd, c = (float)cd;
  i64 base = nh * D;
  float a = ldf(x, dt, base + i), b = ldf(x, dt, base + i + half);
  if (inverse) {
    stf(x, dt, base + i, a * c + b * s);
    stf(x, dt, base + i + half, b * c - a * s);
  } else {
    stf(x, dt, base + i, a * c - b * s);
    stf(x, dt, base + i + half, b * c + a * s);
  }
}
