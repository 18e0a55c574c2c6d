// attention.cu: causal grouped-query attention, flash style (tiled over keys,
// online softmax, the T×T scores never stored), forward saving the natural
// log-sum-exp per query row, and backward recomputing the scores.
//
// Layouts: q, out, dq [B, T, H, D]; k, v, dk, dv [B, T, KVH, D];
// lse, dvec [B, H, T] fp32. Query head h reads KV head h / (H / KVH).
//   s_ij = scale * q_i . k_j (j <= i),  p_ij = exp(s_ij - lse_i)
//   out_i = sum_j p_ij v_j,  dvec_i = dout_i . out_i
//   ds_ij = p_ij (dout_i . v_j - dvec_i)
//   dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i,  dv_j = sum_i p_ij dout_i
//
// Two paths:
//   *_f32: fp32 arithmetic on any dtype (the exactness path), one warp per
//          row, D <= 256; key/query tiles of 32 in shared memory.
//   *_bf16_d64/_d128: bf16 tensor cores (mma.sync m16n8k16, fp32 accumulate),
//          64-row tiles, 4 warps of 16 rows; needs sm_80+ (guarded).
// The backward is split into a dq kernel (per query tile) and a dk/dv kernel
// (per key tile, summing over the query heads of its group), so that no
// atomics are used and results are deterministic.
#include "common.cuh"

#define AW 8   // warps (rows) per block, fp32 path
#define AKT 32 // keys (or queries) per shared tile, fp32 path

__device__ __forceinline__ i64 qidx(int b, int t, int NH, int h, int T, int D) {
  return (((i64)b * T + t) * NH + h) * D;
}

// Loads rows [r0, r0+AKT) of head hh of x [B, T, NH, D] into S (stride ld),
// zero rows beyond T.
__device__ __forceinline__ void load_rows_f32(float* S, int ld, const void* x, int dt, int b, int T, int NH,
                                              int hh, int D, int r0) {
  for (int e = threadIdx.x; e < AKT * D; e += blockDim.x) {
    int r = e / D, d = e % D, tr = r0 + r;
    S[r * ld + d] = tr < T ? ldf(x, dt, qidx(b, tr, NH, hh, T, D) + d) : 0.f;
  }
}

// grid (ceil(T/AW), B*H), block AW*32, dyn smem (2*AKT*(D+1) + AW*D) floats.
extern "C" __global__ void attn_fwd_f32(void* out, int dto, float* lse, const void* q, const void* k, const void* v,
                                        int dt, int B, int T, int H, int KVH, int D, float scale) {
  extern __shared__ float smf[];
  float* Ks = smf;
  float* Vs = Ks + AKT * (D + 1);
  float* qs = Vs + AKT * (D + 1);
  int b = blockIdx.y / H, h = blockIdx.y % H, kh = h / (H / KVH);
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int row0 = blockIdx.x * AW, i = row0 + w;
  bool active = i < T;
  float* qw = qs + w * D;
  for (int d = lane; d < D; d += 32) qw[d] = active ? ldf(q, dt, qidx(b, i, H, h, T, D) + d) : 0.f;
  float acc[8];
#pragma unroll
  for (int c = 0; c < 8; c++) acc[c] = 0.f;
  float m = -SIRL_INF, l = 0.f;
  int last = min(T - 1, row0 + AW - 1);
  for (int j0 = 0; j0 <= last; j0 += AKT) {
    __syncthreads();
    load_rows_f32(Ks, D + 1, k, dt, b, T, KVH, kh, D, j0);
    load_rows_f32(Vs, D + 1, v, dt, b, T, KVH, kh, D, j0);
    __syncthreads();
    if (!active || j0 > i) continue;
    int j = j0 + lane;
    float s = -SIRL_INF;
    if (j <= i) {
      float dot = 0.f;
      for (int d = 0; d < D; d++) dot += qw[d] * Ks[lane * (D + 1) + d];
      s = dot * scale;
    }
    float mn = fmaxf(m, warp_max(s));
    float p = j <= i ? expf(s - mn) : 0.f;
    float corr = expf(m - mn);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int c = 0; c < 8; c++) acc[c] *= corr;
    for (int jj = 0; jj < 32; jj++) {
      float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
      for (int c = 0; c < 8; c++) {
        int d = lane + 32 * c;
        if (d < D) acc[c] += pj * Vs[jj * (D + 1) + d];
      }
    }
    m = mn;
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    int d = lane + 32 * c;
    if (d < D) stf(out, dto, qidx(b, i, H, h, T, D) + d, acc[c] / l);
  }
  if (lane == 0) lse[((i64)b * H + h) * T + i] = m + logf(l);
}

// dvec[b,h,t] = dout . out over D. One warp per row; grid ceil(B*T*H/8), block 256.
extern "C" __global__ void attn_bwd_dvec(float* dvec, const void* dout, int dtdo, const void* out, int dto, int B,
                                         int T, int H, int D) {
  i64 r = (i64)blockIdx.x * 8 + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (r >= (i64)B * T * H) return;
  float s = 0.f;
  for (int d = lane; d < D; d += 32) s += ldf(dout, dtdo, r * D + d) * ldf(out, dto, r * D + d);
  s = warp_sum(s);
  int h = (int)(r % H);
  i64 bt = r / H;
  int t = (int)(bt % T), b = (int)(bt / T);
  if (lane == 0) dvec[((i64)b * H + h) * T + t] = s;
}

// dq, fp32 path. grid (ceil(T/AW), B*H), block AW*32,
// dyn smem (2*AKT*(D+1) + 2*AW*D) floats.
extern "C" __global__ void attn_bwd_dq_f32(void* dq, int dtdq, const void* dout, int dtdo, const void* q, const void* k,
                                           const void* v, int dt, const float* lse, const float* dvec, int B, int T,
                                           int H, int KVH, int D, float scale) {
  extern __shared__ float smf[];
  float* Ks = smf;
  float* Vs = Ks + AKT * (D + 1);
  float* qs = Vs + AKT * (D + 1);
  float* ds_ = qs + AW * D;
  int b = blockIdx.y / H, h = blockIdx.y % H, kh = h / (H / KVH);
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int row0 = blockIdx.x * AW, i = row0 + w;
  bool active = i < T;
  float* qw = qs + w * D;
  float* dow = ds_ + w * D;
  for (int d = lane; d < D; d += 32) {
    qw[d] = active ? ldf(q, dt, qidx(b, i, H, h, T, D) + d) : 0.f;
    dow[d] = active ? ldf(dout, dtdo, qidx(b, i, H, h, T, D) + d) : 0.f;
  }
  float li = active ? lse[((i64)b * H + h) * T + i] : 0.f;
  float di = active ? dvec[((i64)b * H + h) * T + i] : 0.f;
  float acc[8];
#pragma unroll
  for (int c = 0; c < 8; c++) acc[c] = 0.f;
  int last = min(T - 1, row0 + AW - 1);
  for (int j0 = 0; j0 <= last; j0 += AKT) {
    __syncthreads();
    load_rows_f32(Ks, D + 1, k, dt, b, T, KVH, kh, D, j0);
    load_rows_f32(Vs, D + 1, v, dt, b, T, KVH, kh, D, j0);
    __syncthreads();
    if (!active || j0 > i) continue;
    int j = j0 + lane;
    float ds = 0.f;
    if (j <= i) {
      float s = 0.f, dp = 0.f;
      for (int d = 0; d < D; d++) {
        s += qw[d] * Ks[lane * (D + 1) + d];
        dp += dow[d] * Vs[lane * (D + 1) + d];
      }
      float p = expf(s * scale - li);
      ds = p * (dp - di);
    }
    for (int jj = 0; jj < 32; jj++) {
      float dj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
      for (int c = 0; c < 8; c++) {
        int d = lane + 32 * c;
        if (d < D) acc[c] += dj * Ks[jj * (D + 1) + d];
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    int d = lane + 32 * c;
    if (d < D) stf(dq, dtdq, qidx(b, i, H, h, T, D) + d, acc[c] * scale);
  }
}

// dk, dv, fp32 path: one warp per key row j of KV head kh, summing over the
// H/KVH query heads of the group and the queries i >= j.
// grid (ceil(T/AW), B*KVH), block AW*32, dyn smem (2*AKT*(D+1) + 2*AKT + 2*AW*D) floats.
extern "C" __global__ void attn_bwd_dkv_f32(void* dk, void* dv, int dtdkv, const void* dout, int dtdo, const void* q,
                                            const void* k, const void* v, int dt, const float* lse,
                                            const float* dvec, int B, int T, int H, int KVH, int D, float scale) {
  extern __shared__ float smf[];
  float* Qs = smf;
  float* Os = Qs + AKT * (D + 1);
  float* ls = Os + AKT * (D + 1);
  float* dsv = ls + AKT;
  float* kw_ = dsv + AKT;
  float* vw_ = kw_ + AW * D;
  int b = blockIdx.y / KVH, kh = blockIdx.y % KVH, G = H / KVH;
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int row0 = blockIdx.x * AW, j = row0 + w;
  bool active = j < T;
  float* kw = kw_ + w * D;
  float* vw = vw_ + w * D;
  for (int d = lane; d < D; d += 32) {
    kw[d] = active ? ldf(k, dt, qidx(b, j, KVH, kh, T, D) + d) : 0.f;
    vw[d] = active ? ldf(v, dt, qidx(b, j, KVH, kh, T, D) + d) : 0.f;
  }
  float ak[8], av[8];
#pragma unroll
  for (int c = 0; c < 8; c++) ak[c] = av[c] = 0.f;
  for (int h = kh * G; h < (kh + 1) * G; h++) {
    for (int i0 = row0; i0 < T; i0 += AKT) {
      __syncthreads();
      load_rows_f32(Qs, D + 1, q, dt, b, T, H, h, D, i0);
      load_rows_f32(Os, D + 1, dout, dtdo, b, T, H, h, D, i0);
      if (threadIdx.x < AKT) {
        int ii = i0 + threadIdx.x;
        ls[threadIdx.x] = ii < T ? lse[((i64)b * H + h) * T + ii] : 0.f;
        dsv[threadIdx.x] = ii < T ? dvec[((i64)b * H + h) * T + ii] : 0.f;
      }
      __syncthreads();
      if (!active) continue;
      int i = i0 + lane;
      float p = 0.f, ds = 0.f;
      if (i >= j && i < T) {
        float s = 0.f, dp = 0.f;
        for (int d = 0; d < D; d++) {
          s += Qs[lane * (D + 1) + d] * kw[d];
          dp += Os[lane * (D + 1) + d] * vw[d];
        }
        p = expf(s * scale - ls[lane]);
        ds = p * (dp - dsv[lane]);
      }
      for (int ii = 0; ii < 32; ii++) {
        float pi = __shfl_sync(0xffffffffu, p, ii), di = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
        for (int c = 0; c < 8; c++) {
          int d = lane + 32 * c;
          if (d < D) {
            av[c] += pi * Os[ii * (D + 1) + d];
            ak[c] += di * Qs[ii * (D + 1) + d];
          }
        }
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < 8; c++) {
    int d = lane + 32 * c;
    if (d < D) {
      stf(dk, dtdkv, qidx(b, j, KVH, kh, T, D) + d, ak[c] * scale);
      stf(dv, dtdkv, qidx(b, j, KVH, kh, T, D) + d, av[c]);
    }
  }
}

#include "attention_tc.cuh"
