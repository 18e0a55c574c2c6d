// common.cuh: helpers shared by every kernel file. Included by NVRTC from the
// header list the engine passes (name "common.cuh").
//
// Tensors reach the kernels as untyped pointers plus a dtype code equal to
// backend.DType: 0 = fp32, 1 = bf16, 2 = int32. Memory-bound kernels load and
// store through ldf/stf, which switch on a warp-uniform code; compute-bound
// kernels (attention, GEMM) are specialised on the type instead.
#pragma once
#include <cuda_bf16.h>

#define DT_F32 0
#define DT_BF16 1
#define DT_I32 2

typedef long long i64;
#define SIRL_INF __int_as_float(0x7f800000)

// bf16 <-> fp32 on raw bits, round to nearest even (the CPU engine's rule).
__device__ __forceinline__ float bf16_to_f32(unsigned short b) {
  return __uint_as_float(((unsigned)b) << 16);
}
__device__ __forceinline__ unsigned short f32_to_bf16(float f) {
  unsigned u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}
// pack_bf16x2 packs lo into the low half and hi into the high half, as the
// mma.sync fragments expect (element 2i low, 2i+1 high).
__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
  return (unsigned)f32_to_bf16(lo) | ((unsigned)f32_to_bf16(hi) << 16);
}

// ldf loads element i of a tensor of dtype dt as float.
__device__ __forceinline__ float ldf(const void* p, int dt, i64 i) {
  if (dt == DT_BF16) return bf16_to_f32(((const unsigned short*)p)[i]);
  if (dt == DT_I32) return (float)((const int*)p)[i];
  return ((const float*)p)[i];
}
// stf stores v into element i of a tensor of dtype dt.
__device__ __forceinline__ void stf(void* p, int dt, i64 i, float v) {
  if (dt == DT_BF16) {
    ((unsigned short*)p)[i] = f32_to_bf16(v);
  } else if (dt == DT_I32) {
    ((int*)p)[i] = (int)v;
  } else {
    ((float*)p)[i] = v;
  }
}

// Warp and block reductions. block_* must be called by every thread of the
// block; sh holds 32 elements of scratch shared memory.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ unsigned long long warp_sum_u64(unsigned long long v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, T* sh, T ident, Op op) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    v = lane < nw ? sh[lane] : ident;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}
struct OpAdd {
  template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct OpMax {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
__device__ __forceinline__ float block_sum(float v, float* sh) { return block_reduce(v, sh, 0.f, OpAdd()); }
__device__ __forceinline__ double block_sum_d(double v, double* sh) { return block_reduce(v, sh, 0.0, OpAdd()); }
__device__ __forceinline__ float block_max(float v, float* sh) { return block_reduce(v, sh, -SIRL_INF, OpMax()); }

// Tensor-core tile helpers (sm_80+): mma.sync m16n8k16, bf16 in, fp32 acc.
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with
// g = lane/4 and t = lane%4:
//   A 16x16 row-major: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
//   B 16x8 (k x n):    b0 (k = 2t..2t+1, n = g), b1 (k = 2t+8.., n = g)
//   C 16x8 fp32:       c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1)
#if defined(SIRL_EMU)
// The emulator (gpu/emu) defines mma16816 as a warp collective in its prelude.
#define SIRL_HAS_MMA 1
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SIRL_HAS_MMA 1
__device__ __forceinline__ void mma16816(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif

// Shared-memory fragment loads from a bf16 tile stored row-major with
// leading dimension ld (elements). X is the tile, (r0, c0) its corner.
__device__ __forceinline__ unsigned ld_u32(const unsigned short* p) { return *(const unsigned*)p; }
// frag_a: A fragment of rows r0..r0+15, cols c0..c0+15.
__device__ __forceinline__ void frag_a(unsigned a[4], const unsigned short* X, int ld, int r0, int c0) {
  int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  a[0] = ld_u32(X + (r0 + g) * ld + c0 + 2 * t);
  a[1] = ld_u32(X + (r0 + g + 8) * ld + c0 + 2 * t);
  a[2] = ld_u32(X + (r0 + g) * ld + c0 + 2 * t + 8);
  a[3] = ld_u32(X + (r0 + g + 8) * ld + c0 + 2 * t + 8);
}
// frag_b_nk: B fragment (k0..k0+15 x n0..n0+7) of a tile stored as Y[n][k].
__device__ __forceinline__ void frag_b_nk(unsigned& b0, unsigned& b1, const unsigned short* Y, int ld, int n0, int k0) {
  int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  b0 = ld_u32(Y + (n0 + g) * ld + k0 + 2 * t);
  b1 = ld_u32(Y + (n0 + g) * ld + k0 + 2 * t + 8);
}
// frag_b_kn: B fragment of a tile stored as X[k][n] (two 16-bit loads each).
__device__ __forceinline__ void frag_b_kn(unsigned& b0, unsigned& b1, const unsigned short* X, int ld, int k0, int n0) {
  int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  const unsigned short* p = X + (k0 + 2 * t) * ld + n0 + g;
  b0 = (unsigned)p[0] | ((unsigned)p[ld] << 16);
  b1 = (unsigned)p[8 * ld] | ((unsigned)p[9 * ld] << 16);
}
