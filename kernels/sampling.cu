// sampling.cu: temperature, top-k and top-p sampling from logits [B, V],
// one block per row, without sorting the vocabulary.
//
// It reproduces the CPU engine's procedure (backend/cpu Sample):
//   1. T = 0: greedy, the lowest id among the maxima; logprob under T = 1.
//   2. z_v = logit_v / T (fp32), p_v proportional to exp(z_v - max z).
//   3. The sampling order is z descending, ties by lower id first.
//   4. Top-k (0 < k < V): keep the first k tokens of that order.
//   5. Top-p (p < 1): keep the shortest prefix of the kept tokens whose mass
//      is >= p * (mass kept by step 4).
//   6. Draw: target = u * (kept mass); the token is the first of the order
//      whose running mass exceeds target.
//   logprob = z_token - logsumexp(z) (temperature-scaled, unfiltered).
//
// The order is made total by the 64-bit composite key
//   comp_v = (ordered_bits(z_v) << 32) | (0xFFFFFFFF - v)
// (larger comp = earlier in the order). Steps 4-6 are each one radix select
// over comp, 8 bits a pass, most significant first, stopping as soon as the
// selected bucket holds one token (at most 8 passes): by count for top-k,
// by mass for top-p (>=) and for the draw (>). Masses are fixed point,
// exp(z - max) * 2^42 as uint64, so all sums are exact and order-free; they
// differ from the CPU's float64 sums by < 2^-42 per token, which matters
// only when u or p lies that close to a boundary.
#include "common.cuh"

#define SMP_THREADS 1024
#define SMP_NSUB 4
#define SMP_FIX 4398046511104.0f // 2^42

typedef unsigned long long u64;

__device__ __forceinline__ u64 smp_comp(float z, int v) {
  unsigned u = __float_as_uint(z);
  unsigned key = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ((u64)key << 32) | (u64)(0xFFFFFFFFu - (unsigned)v);
}
__device__ __forceinline__ u64 smp_mass(float z, float m) { return (u64)(expf(z - m) * SMP_FIX); }

struct SmpShared {
  unsigned cnt[SMP_NSUB][256];
  u64 mass[SMP_NSUB][256];
  int any[256];
  float f[32];
  double d[32];
  u64 u[32];
  int idx[32];
  // select state
  unsigned digit;
  int done, token;
  double rem;
  u64 kept;
};

// Select modes.
#define SEL_COUNT 0   // the target-th token of the order (top-k)
#define SEL_MASS_GE 1 // the first token where the running mass >= target (top-p)
#define SEL_MASS_GT 2 // the first token where the running mass > target (draw)

// smp_select runs a radix select over the tokens with comp >= lo. It returns
// the threshold thr (kept = comp >= thr ends exactly at the selected token),
// and sets *kept_mass = mass of {comp >= thr, comp >= lo} and *token = the
// selected token when the last bucket held one token (else -1).
__device__ u64 smp_select(SmpShared& sh, const void* row, int dt, int V, float T, float m, u64 lo, double target,
                          int mode, u64* kept_mass, int* token) {
  u64 prefix = 0, mask = 0;
  int sub = (threadIdx.x >> 5) % SMP_NSUB;
  if (threadIdx.x == 0) {
    sh.rem = target;
    sh.kept = 0;
  }
  for (int pass = 0; pass < 8; pass++) {
    int shift = 56 - 8 * pass;
    for (int i = threadIdx.x; i < SMP_NSUB * 256; i += blockDim.x) {
      (&sh.cnt[0][0])[i] = 0u;
      (&sh.mass[0][0])[i] = 0ull;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
      float z = ldf(row, dt, i) / T;
      u64 c = smp_comp(z, i);
      if (c < lo || (c & mask) != prefix) continue;
      int bin = (int)((c >> shift) & 255u);
      atomicAdd(&sh.cnt[sub][bin], 1u);
      atomicAdd(&sh.mass[sub][bin], smp_mass(z, m));
      sh.any[bin] = i;
    }
    __syncthreads();
    if (threadIdx.x < 256) {
      for (int s = 1; s < SMP_NSUB; s++) {
        sh.cnt[0][threadIdx.x] += sh.cnt[s][threadIdx.x];
        sh.mass[0][threadIdx.x] += sh.mass[s][threadIdx.x];
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double rem = sh.rem, cum = 0.0;
      int sel = -1, last = -1;
      for (int bin = 255; bin >= 0; bin--) {
        unsigned c = sh.cnt[0][bin];
        if (c == 0) continue;
        last = bin;
        double h = mode == SEL_COUNT ? (double)c : (double)sh.mass[0][bin];
        if (mode == SEL_MASS_GT ? cum + h > rem : cum + h >= rem) {
          sel = bin;
          break;
        }
        cum += h;
        sh.kept += sh.mass[0][bin];
      }
      if (sel < 0) { // rounding left nothing: take the last token
        sel = last;
        if (sel >= 0) {
          double h = mode == SEL_COUNT ? (double)sh.cnt[0][sel] : (double)sh.mass[0][sel];
          cum -= h;
          sh.kept -= sh.mass[0][sel];
        }
      }
      sh.digit = (unsigned)(sel < 0 ? 0 : sel);
      sh.rem = rem - cum;
      unsigned c = sel < 0 ? 0u : sh.cnt[0][sel];
      bool exact = mode == SEL_COUNT && (double)c == rem - cum;
      sh.done = sel < 0 || c == 1 || exact || pass == 7;
      sh.token = (sel >= 0 && c == 1) ? sh.any[sel] : -1;
      if (sh.done && sel >= 0) sh.kept += sh.mass[0][sel];
    }
    __syncthreads();
    prefix |= (u64)sh.digit << shift;
    mask |= 255ull << shift;
    int done = sh.done;
    __syncthreads();
    if (done) break;
  }
  *kept_mass = sh.kept;
  *token = sh.token;
  __syncthreads();
  return prefix;
}

// sample: grid (B), block SMP_THREADS.
extern "C" __global__ void __launch_bounds__(SMP_THREADS) sample(int* tokens, float* logprobs, const void* logits,
                                                                   int dt, const float* u, int B, int V,
                                                                   float temperature, int topk, float topp) {
  __shared__ SmpShared sh;
  int b = blockIdx.x;
  if (b >= B) return;
  const char* row = (const char*)logits + (i64)b * V * (dt == DT_BF16 ? 2 : 4);
  bool greedy = !(temperature > 0.f);
  float T = greedy ? 1.f : temperature;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;

  // max z and the lowest id attaining it
  float bm = -SIRL_INF;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float z = ldf(row, dt, i) / T;
    if (z > bm) {
      bm = z;
      bi = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    float om = __shfl_xor_sync(0xffffffffu, bm, o);
    int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (om > bm || (om == bm && oi < bi)) {
      bm = om;
      bi = oi;
    }
  }
  if (lane == 0) {
    sh.f[w] = bm;
    sh.idx[w] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < (int)(blockDim.x >> 5); i++) {
      if (sh.f[i] > sh.f[0] || (sh.f[i] == sh.f[0] && sh.idx[i] < sh.idx[0])) {
        sh.f[0] = sh.f[i];
        sh.idx[0] = sh.idx[i];
      }
    }
  }
  __syncthreads();
  float m = sh.f[0];
  int argmax = sh.idx[0];
  __syncthreads();

  // log-sum-exp (float64) and the fixed-point total mass
  double s = 0.0;
  u64 q = 0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float z = ldf(row, dt, i) / T;
    s += exp((double)(z - m));
    q += smp_mass(z, m);
  }
  s = block_sum_d(s, sh.d);
  q = block_reduce(q, sh.u, 0ull, OpAdd());
  double lse = (double)m + log(s);
  int tok = argmax;
  if (!greedy) {
    u64 lo = 0, kept = q;
    int t = -1;
    if (topk > 0 && topk < V) lo = smp_select(sh, row, dt, V, T, m, 0, (double)topk, SEL_COUNT, &kept, &t);
    if (topp < 1.f) lo = smp_select(sh, row, dt, V, T, m, lo, (double)topp * (double)kept, SEL_MASS_GE, &kept, &t);
    smp_select(sh, row, dt, V, T, m, lo, (double)u[b] * (double)kept, SEL_MASS_GT, &kept, &t);
    tok = t >= 0 ? t : argmax;
  }
  if (threadIdx.x == 0) {
    tokens[b] = tok;
    logprobs[b] = (float)((double)(ldf(row, dt, tok) / T - m) - log(s));
  }
  (void)lse;
}
