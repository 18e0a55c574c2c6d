// attention_tc.cuh: the bf16 tensor-core path of attention.cu (included by
// it; see there for the math and layouts). Tiles: 64 query (or key) rows
// per block, 4 warps of 16 rows, 64-wide tiles of the other side, head dim
// D in {64, 128}. Scores are kept in the log2 domain (scale * log2 e) and
// exp2f is used; lse is stored in natural log. Needs sm_80+ (mma.sync);
// on older archs the kernels trap.
#pragma once
#include "common.cuh"

#define TC_L2E 1.4426950408889634f
#define TC_LN2 0.6931471805599453f

// Copies rows [r0, r0+64) of head hh of x [B, T, NH, D] (bf16) into the
// shared tile S [64][D+8]; rows beyond T are zero. 16-byte loads.
template <int D>
__device__ __forceinline__ void tc_load(unsigned short* S, const unsigned short* x, int b, int T, int NH, int hh,
                                        int r0) {
  constexpr int LD = D + 8, V8 = D / 8;
  const uint4* src = (const uint4*)(x + ((i64)b * T * NH + hh) * D);
  const i64 rs = (i64)NH * V8; // row stride in uint4
  for (int e = threadIdx.x; e < 64 * V8; e += blockDim.x) {
    int r = e / V8, c = e % V8, tr = r0 + r;
    uint4 val = make_uint4(0u, 0u, 0u, 0u);
    if (tr < T) val = src[tr * rs + c];
    *(uint4*)(S + r * LD + c * 8) = val;
  }
}

// Packs the C fragments of n-tiles 2kk and 2kk+1 into the A fragment of
// k-step kk (rows unchanged, columns become the k index).
__device__ __forceinline__ void tc_c_to_a(unsigned a[4], const float (*s)[4], int kk) {
  a[0] = pack_bf16x2(s[2 * kk][0], s[2 * kk][1]);
  a[1] = pack_bf16x2(s[2 * kk][2], s[2 * kk][3]);
  a[2] = pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
  a[3] = pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
}

template <int D>
__device__ __forceinline__ void tc_attn_fwd(void* out, int dto, float* lse, const unsigned short* q,
                                            const unsigned short* k, const unsigned short* v, int B, int T, int H,
                                            int KVH, float scale) {
#ifdef SIRL_HAS_MMA
  constexpr int LD = D + 8;
  extern __shared__ unsigned short smh[];
  unsigned short* Ks = smh;
  unsigned short* Vs = smh + 64 * LD;
  int b = blockIdx.y / H, h = blockIdx.y % H, kh = h / (H / KVH);
  int q0 = blockIdx.x * 64;
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  tc_load<D>(Ks, q, b, T, H, h, q0);
  __syncthreads();
  unsigned qa[D / 16][4];
#pragma unroll
  for (int ks = 0; ks < D / 16; ks++) frag_a(qa[ks], Ks, LD, w * 16, ks * 16);
  float o[D / 8][4];
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.f;
  float m0 = -SIRL_INF, m1 = -SIRL_INF, l0 = 0.f, l1 = 0.f;
  const float sl2 = scale * TC_L2E;
  int ra = q0 + w * 16 + g, rb = ra + 8;
  int kend = min(T, q0 + 64);
  for (int k0 = 0; k0 < kend; k0 += 64) {
    __syncthreads();
    tc_load<D>(Ks, k, b, T, KVH, kh, k0);
    tc_load<D>(Vs, v, b, T, KVH, kh, k0);
    __syncthreads();
    float s[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++) {
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        unsigned b0, b1;
        frag_b_nk(b0, b1, Ks, LD, nt * 8, ks * 16);
        mma16816(s[nt], qa[ks], b0, b1);
      }
    }
    float mx0 = -SIRL_INF, mx1 = -SIRL_INF;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int col = k0 + nt * 8 + 2 * t + (e & 1), row = e < 2 ? ra : rb;
        float x = (col > row || col >= T) ? -SIRL_INF : s[nt][e] * sl2;
        s[nt][e] = x;
        if (e < 2) mx0 = fmaxf(mx0, x); else mx1 = fmaxf(mx1, x);
      }
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    float z0 = mn0 == -SIRL_INF ? 0.f : mn0, z1 = mn1 == -SIRL_INF ? 0.f : mn1;
    float c0 = exp2f(m0 - z0), c1 = exp2f(m1 - z1);
    l0 *= c0;
    l1 *= c1;
#pragma unroll
    for (int dn = 0; dn < D / 8; dn++) {
      o[dn][0] *= c0; o[dn][1] *= c0; o[dn][2] *= c1; o[dn][3] *= c1;
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      s[nt][0] = exp2f(s[nt][0] - z0); s[nt][1] = exp2f(s[nt][1] - z0);
      s[nt][2] = exp2f(s[nt][2] - z1); s[nt][3] = exp2f(s[nt][3] - z1);
      l0 += s[nt][0] + s[nt][1];
      l1 += s[nt][2] + s[nt][3];
    }
    m0 = mn0;
    m1 = mn1;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
      unsigned pa[4];
      tc_c_to_a(pa, s, kk);
#pragma unroll
      for (int dn = 0; dn < D / 8; dn++) {
        unsigned b0, b1;
        frag_b_kn(b0, b1, Vs, LD, kk * 16, dn * 8);
        mma16816(o[dn], pa, b0, b1);
      }
    }
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  float i0 = 1.f / l0, i1 = 1.f / l1;
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++) {
    int col = dn * 8 + 2 * t;
    if (ra < T) {
      i64 at = (((i64)b * T + ra) * H + h) * D + col;
      stf(out, dto, at, o[dn][0] * i0);
      stf(out, dto, at + 1, o[dn][1] * i0);
    }
    if (rb < T) {
      i64 at = (((i64)b * T + rb) * H + h) * D + col;
      stf(out, dto, at, o[dn][2] * i1);
      stf(out, dto, at + 1, o[dn][3] * i1);
    }
  }
  if (t == 0) {
    if (ra < T) lse[((i64)b * H + h) * T + ra] = (m0 + log2f(l0)) * TC_LN2;
    if (rb < T) lse[((i64)b * H + h) * T + rb] = (m1 + log2f(l1)) * TC_LN2;
  }
#else
  __trap();
#endif
}

// dq: grid (ceil(T/64), B*H), block 128, dyn smem 2*64*(D+8)*2 bytes.
template <int D>
__device__ __forceinline__ void tc_attn_dq(void* dq, int dtdq, const unsigned short* dout, const unsigned short* q,
                                           const unsigned short* k, const unsigned short* v, const float* lse,
                                           const float* dvec, int B, int T, int H, int KVH, float scale) {
#ifdef SIRL_HAS_MMA
  constexpr int LD = D + 8;
  extern __shared__ unsigned short smh[];
  unsigned short* Ks = smh;
  unsigned short* Vs = smh + 64 * LD;
  int b = blockIdx.y / H, h = blockIdx.y % H, kh = h / (H / KVH);
  int q0 = blockIdx.x * 64;
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  tc_load<D>(Ks, q, b, T, H, h, q0);
  tc_load<D>(Vs, dout, b, T, H, h, q0);
  __syncthreads();
  unsigned qa[D / 16][4], da[D / 16][4];
#pragma unroll
  for (int ks = 0; ks < D / 16; ks++) {
    frag_a(qa[ks], Ks, LD, w * 16, ks * 16);
    frag_a(da[ks], Vs, LD, w * 16, ks * 16);
  }
  int ra = q0 + w * 16 + g, rb = ra + 8;
  const i64 lb = ((i64)b * H + h) * T;
  float la = ra < T ? lse[lb + ra] * TC_L2E : 0.f, lbv = rb < T ? lse[lb + rb] * TC_L2E : 0.f;
  float dA = ra < T ? dvec[lb + ra] : 0.f, dB = rb < T ? dvec[lb + rb] : 0.f;
  const float sl2 = scale * TC_L2E;
  float acc[D / 8][4];
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++) acc[dn][0] = acc[dn][1] = acc[dn][2] = acc[dn][3] = 0.f;
  int kend = min(T, q0 + 64);
  for (int k0 = 0; k0 < kend; k0 += 64) {
    __syncthreads();
    tc_load<D>(Ks, k, b, T, KVH, kh, k0);
    tc_load<D>(Vs, v, b, T, KVH, kh, k0);
    __syncthreads();
    float s[8][4], dp[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[nt][e] = dp[nt][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++) {
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        unsigned b0, b1;
        frag_b_nk(b0, b1, Ks, LD, nt * 8, ks * 16);
        mma16816(s[nt], qa[ks], b0, b1);
        frag_b_nk(b0, b1, Vs, LD, nt * 8, ks * 16);
        mma16816(dp[nt], da[ks], b0, b1);
      }
    }
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int col = k0 + nt * 8 + 2 * t + (e & 1), row = e < 2 ? ra : rb;
        float p = (col > row || col >= T || row >= T) ? 0.f : exp2f(s[nt][e] * sl2 - (e < 2 ? la : lbv));
        s[nt][e] = p * (dp[nt][e] - (e < 2 ? dA : dB));
      }
    }
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
      unsigned pa[4];
      tc_c_to_a(pa, s, kk);
#pragma unroll
      for (int dn = 0; dn < D / 8; dn++) {
        unsigned b0, b1;
        frag_b_kn(b0, b1, Ks, LD, kk * 16, dn * 8);
        mma16816(acc[dn], pa, b0, b1);
      }
    }
  }
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++) {
    int col = dn * 8 + 2 * t;
    if (ra < T) {
      i64 at = (((i64)b * T + ra) * H + h) * D + col;
      stf(dq, dtdq, at, acc[dn][0] * scale);
      stf(dq, dtdq, at + 1, acc[dn][1] * scale);
    }
    if (rb < T) {
      i64 at = (((i64)b * T + rb) * H + h) * D + col;
      stf(dq, dtdq, at, acc[dn][2] * scale);
      stf(dq, dtdq, at + 1, acc[dn][3] * scale);
    }
  }
#else
  __trap();
#endif
}

// dk, dv: grid (ceil(T/64), B*KVH), block 128,
// dyn smem 4*64*(D+8)*2 + 2*64*4 bytes. Scores are computed transposed
// (rows = keys, columns = queries) so that P^T and dS^T are A fragments.
template <int D>
__device__ __forceinline__ void tc_attn_dkv(void* dk, void* dv, int dtdkv, const unsigned short* dout,
                                            const unsigned short* q, const unsigned short* k,
                                            const unsigned short* v, const float* lse, const float* dvec, int B,
                                            int T, int H, int KVH, float scale) {
#ifdef SIRL_HAS_MMA
  constexpr int LD = D + 8;
  extern __shared__ unsigned short smh[];
  unsigned short* Ks = smh;
  unsigned short* Vs = Ks + 64 * LD;
  unsigned short* Qs = Vs + 64 * LD;
  unsigned short* Os = Qs + 64 * LD;
  float* ls = (float*)(Os + 64 * LD);
  float* dsv = ls + 64;
  int b = blockIdx.y / KVH, kh = blockIdx.y % KVH, G = H / KVH;
  int k0 = blockIdx.x * 64;
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  tc_load<D>(Ks, k, b, T, KVH, kh, k0);
  tc_load<D>(Vs, v, b, T, KVH, kh, k0);
  int ka = k0 + w * 16 + g, kb = ka + 8;
  const float sl2 = scale * TC_L2E;
  float ak[D / 8][4], av[D / 8][4];
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++)
#pragma unroll
    for (int e = 0; e < 4; e++) ak[dn][e] = av[dn][e] = 0.f;
  for (int h = kh * G; h < (kh + 1) * G; h++) {
    const i64 lb = ((i64)b * H + h) * T;
    for (int q0 = k0; q0 < T; q0 += 64) {
      __syncthreads();
      tc_load<D>(Qs, q, b, T, H, h, q0);
      tc_load<D>(Os, dout, b, T, H, h, q0);
      if (threadIdx.x < 64) {
        int qi = q0 + threadIdx.x;
        ls[threadIdx.x] = qi < T ? lse[lb + qi] * TC_L2E : 0.f;
        dsv[threadIdx.x] = qi < T ? dvec[lb + qi] : 0.f;
      }
      __syncthreads();
      float s[8][4], dp[8][4];
#pragma unroll
      for (int nt = 0; nt < 8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) s[nt][e] = dp[nt][e] = 0.f;
#pragma unroll
      for (int ks = 0; ks < D / 16; ks++) {
        unsigned fk[4], fv[4];
        frag_a(fk, Ks, LD, w * 16, ks * 16);
        frag_a(fv, Vs, LD, w * 16, ks * 16);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
          unsigned b0, b1;
          frag_b_nk(b0, b1, Qs, LD, nt * 8, ks * 16);
          mma16816(s[nt], fk, b0, b1);
          frag_b_nk(b0, b1, Os, LD, nt * 8, ks * 16);
          mma16816(dp[nt], fv, b0, b1);
        }
      }
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int c = nt * 8 + 2 * t + (e & 1), qi = q0 + c, key = e < 2 ? ka : kb;
          float p = (qi < key || qi >= T || key >= T) ? 0.f : exp2f(s[nt][e] * sl2 - ls[c]);
          s[nt][e] = p;
          dp[nt][e] = p * (dp[nt][e] - dsv[c]);
        }
      }
#pragma unroll
      for (int kk = 0; kk < 4; kk++) {
        unsigned pa[4], sa[4];
        tc_c_to_a(pa, s, kk);
        tc_c_to_a(sa, dp, kk);
#pragma unroll
        for (int dn = 0; dn < D / 8; dn++) {
          unsigned b0, b1;
          frag_b_kn(b0, b1, Os, LD, kk * 16, dn * 8);
          mma16816(av[dn], pa, b0, b1);
          frag_b_kn(b0, b1, Qs, LD, kk * 16, dn * 8);
          mma16816(ak[dn], sa, b0, b1);
        }
      }
    }
  }
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++) {
    int col = dn * 8 + 2 * t;
    if (ka < T) {
      i64 at = (((i64)b * T + ka) * KVH + kh) * D + col;
      stf(dk, dtdkv, at, ak[dn][0] * scale);
      stf(dk, dtdkv, at + 1, ak[dn][1] * scale);
      stf(dv, dtdkv, at, av[dn][0]);
      stf(dv, dtdkv, at + 1, av[dn][1]);
    }
    if (kb < T) {
      i64 at = (((i64)b * T + kb) * KVH + kh) * D + col;
      stf(dk, dtdkv, at, ak[dn][2] * scale);
      stf(dk, dtdkv, at + 1, ak[dn][3] * scale);
      stf(dv, dtdkv, at, av[dn][2]);
      stf(dv, dtdkv, at + 1, av[dn][3]);
    }
  }
#else
  __trap();
#endif
}

#define TC_ENTRY(D)                                                                                                   \
  extern "C" __global__ void __launch_bounds__(128) attn_fwd_bf16_d##D(                                               \
      void* out, int dto, float* lse, const unsigned short* q, const unsigned short* k, const unsigned short* v,    \
      int B, int T, int H, int KVH, float scale) {                                                                    \
    tc_attn_fwd<D>(out, dto, lse, q, k, v, B, T, H, KVH, scale);                                                      \
  }                                                                                                                   \
  extern "C" __global__ void __launch_bounds__(128) attn_bwd_dq_bf16_d##D(                                            \
      void* dq, int dtdq, const unsigned short* dout, const unsigned short* q, const unsigned short* k,              \
      const unsigned short* v, const float* lse, const float* dvec, int B, int T, int H, int KVH, float scale) {     \
    tc_attn_dq<D>(dq, dtdq, dout, q, k, v, lse, dvec, B, T, H, KVH, scale);                                           \
  }                                                                                                                   \
  extern "C" __global__ void __launch_bounds__(128) attn_bwd_dkv_bf16_d##D(                                           \
      void* dk, void* dv, int dtdkv, const unsigned short* dout, const unsigned short* q, const unsigned short* k,   \
      const unsigned short* v, const float* lse, const float* dvec, int B, int T, int H, int KVH, float scale) {     \
    tc_attn_dkv<D>(dk, dv, dtdkv, dout, q, k, v, lse, dvec, B, T, H, KVH, scale);                                     \
  }

TC_ENTRY(64)
TC_ENTRY(128)
