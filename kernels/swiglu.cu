// swiglu.cu: SwiGLU gate, forward and backward, elementwise.
//   out = silu(gate) * up, silu(g) = g * sigmoid(g)
//   dgate = dout * up * s * (1 + g * (1 - s)),  dup = dout * silu(g),  s = sigmoid(g)
#include "common.cuh"

__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

extern "C" __global__ void swiglu_fwd(void* out, int dto, const void* gate, int dtg, const void* up, int dtu,
                                      i64 n) {
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float g = ldf(gate, dtg, i);
    stf(out, dto, i, g * sigmoidf_(g) * ldf(up, dtu, i));
  }
}

extern "C" __global__ void swiglu_bwd(void* dgate, int dtdg, void* dup, int dtdu, const void* dout, int dto,
                                      const void* gate, int dtg, const void* up, int dtu, i64 n) {
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float g = ldf(gate, dtg, i), u = ldf(up, dtu, i), d = ldf(dout, dto, i);
    float s = sigmoidf_(g);
    stf(dgate, dtdg, i, d * u * s * (1.0f + g * (1.0f - s)));
    stf(dup, dtdu, i, d * g * s);
  }
}
