// reduce.cu: sum of squares over tensors (the gradient norm), accumulated in
// float64 in two deterministic stages: per-block partials, then one block
// that adds the partials in order.
#include "common.cuh"

// sumsq_partial: grid (nb), block 256; partial[blockIdx.x] = sum of x^2 over
// a grid-stride share of the n elements.
extern "C" __global__ void sumsq_partial(const void* x, int dt, i64 n, double* partial) {
  __shared__ double sh[32];
  double s = 0.0;
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    double v = (double)ldf(x, dt, i);
    s += v * v;
  }
  s = block_sum_d(s, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// sum_final: grid 1, block 256; out[0] = sum of the n partials.
extern "C" __global__ void sum_final(const double* partial, int n, double* out) {
  __shared__ double sh[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_sum_d(s, sh);
  if (threadIdx.x == 0) out[0] = s;
}
