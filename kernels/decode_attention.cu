// decode_attention.cu: one new query token per sequence against a paged KV
// cache, and the append of that token's k and v into the cache.
//
// Cache K, V: [NumBlocks, BlockSize, KVH, D]; block_table I32 [B, MaxBlocks];
// seqlens I32 [B] (tokens in the cache per sequence, including the new one).
// Token j of sequence b lives in block block_table[b, j / BlockSize], slot
// j % BlockSize (a block id outside [0, NumBlocks) is skipped). q, out: [B, H, D]; k, v (append): [B, KVH, D].
//   out_b,h = sum_{j < seqlen_b} softmax_j(scale * q . k_j) v_j
#include "common.cuh"

// kv_at is the element offset of token j of sequence b, or -1 when its
// block id lies outside [0, nblk).
__device__ __forceinline__ i64 kv_at(const int* bt, int b, int j, int bs, int maxb, int nblk, int KVH, int kh,
                                     int D) {
  int blk = bt[(i64)b * maxb + j / bs];
  if (blk < 0 || blk >= nblk) return -1;
  return (((i64)blk * bs + j % bs) * KVH + kh) * D;
}

// kv_append: grid (B), block 256. Writes k[b], v[b] at position seqlens[b]-1.
extern "C" __global__ void kv_append(void* kc, void* vc, int dtc, const void* k, const void* v, int dtk,
                                     const int* bt, const int* seqlens, int B, int KVH, int D, int bs, int maxb, int nblk) {
  int b = blockIdx.x;
  int j = seqlens[b] - 1;
  if (j < 0 || j >= bs * maxb) return;
  for (int e = threadIdx.x; e < KVH * D; e += blockDim.x) {
    int kh = e / D, d = e % D;
    i64 at = kv_at(bt, b, j, bs, maxb, nblk, KVH, kh, D);
    if (at < 0) return;
    at += d;
    i64 src = ((i64)b * KVH + kh) * D + d;
    stf(kc, dtc, at, ldf(k, dtk, src));
    stf(vc, dtc, at, ldf(v, dtk, src));
  }
}

#define DW 4 // warps per block

// decode_attn: grid (H, B), block DW*32, D <= 256. Each warp takes keys
// j = 32*(DW*it + w) + lane: the lane computes one score, the warp updates
// its online softmax, then accumulates V rows with lanes over D. The DW
// partial states are merged at the end.
extern "C" __global__ void decode_attn(void* out, int dto, const void* q, int dtq, const void* kc, const void* vc,
                                       int dtc, const int* bt, const int* seqlens, int B, int H, int KVH, int D,
                                       int bs, int maxb, int nblk, float scale) {
  __shared__ float qs[256];
  __shared__ float wm[DW], wl[DW];
  __shared__ float wacc[DW][256];
  int h = blockIdx.x, b = blockIdx.y, kh = h / (H / KVH);
  int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int n = min(seqlens[b], bs * maxb);
  for (int d = threadIdx.x; d < D; d += blockDim.x) qs[d] = ldf(q, dtq, ((i64)b * H + h) * D + d);
  __syncthreads();
  float acc[8];
#pragma unroll
  for (int c = 0; c < 8; c++) acc[c] = 0.f;
  float m = -SIRL_INF, l = 0.f;
  for (int j0 = 32 * w; j0 < n; j0 += 32 * DW) {
    int j = j0 + lane;
    float s = -SIRL_INF;
    i64 at = j < n ? kv_at(bt, b, j, bs, maxb, nblk, KVH, kh, D) : -1;
    if (at >= 0) {
      float dot = 0.f;
      for (int d = 0; d < D; d++) dot += qs[d] * ldf(kc, dtc, at + d);
      s = dot * scale;
    }
    float mn = fmaxf(m, warp_max(s));
    float p = at >= 0 ? expf(s - mn) : 0.f;
    float corr = mn == -SIRL_INF ? 1.f : expf(m - mn);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int c = 0; c < 8; c++) acc[c] *= corr;
    int cnt = min(32, n - j0);
    for (int jj = 0; jj < cnt; jj++) {
      float pj = __shfl_sync(0xffffffffu, p, jj);
      i64 at = kv_at(bt, b, j0 + jj, bs, maxb, nblk, KVH, kh, D);
      if (at < 0) continue;
#pragma unroll
      for (int c = 0; c < 8; c++) {
        int d = lane + 32 * c;
        if (d < D) acc[c] += pj * ldf(vc, dtc, at + d);
      }
    }
    m = mn;
  }
  if (lane == 0) {
    wm[w] = m;
    wl[w] = l;
  }
#pragma unroll
  for (int c = 0; c < 8; c++) {
    int d = lane + 32 * c;
    if (d < D) wacc[w][d] = acc[c];
  }
  __syncthreads();
  float M = -SIRL_INF;
  for (int i = 0; i < DW; i++) M = fmaxf(M, wm[i]);
  float L = 0.f;
  for (int i = 0; i < DW; i++) L += wm[i] == -SIRL_INF ? 0.f : wl[i] * expf(wm[i] - M);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.f;
    for (int i = 0; i < DW; i++)
      if (wm[i] != -SIRL_INF) o += wacc[i][d] * expf(wm[i] - M);
    stf(out, dto, ((i64)b * H + h) * D + d, n > 0 ? o / L : 0.f);
  }
}
