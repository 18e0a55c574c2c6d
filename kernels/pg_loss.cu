// pg_loss.cu: the fused LM head + log-softmax + policy-gradient loss,
// chunked over the vocabulary so that the N x V logits never exist whole.
//
// Forward, for each vocabulary chunk [v0, v0+C): the engine computes the
// logits chunk L = hidden . head[v0:v0+C]^T (N x C, fp32, a tensor-core GEMM)
// and pg_chunk_stats folds it into running per-token statistics
//   m = max_v l_v,  s = sum_v e^{l_v - m},  t = sum_v e^{l_v - m} l_v,  tl = l_target
// (online log-sum-exp). pg_finalize then computes per token
//   lse = m + log s,  logp = tl - lse,  entropy = lse - t / s
// and the loss of the mode (backend.PGMode):
//   PGTokenClip:   rho = e^{logp - oldlogp}, A = adv, W = weight,
//                  clip = -1 if A < 0 and rho < 1-eps_lo, +1 if A > 0 and rho > 1+eps_hi
//                  (there the clipped branch is the strict minimum and its
//                  derivative is 0), else 0;
//                  loss = -W min(rho A, clip(rho, 1-eps_lo, 1+eps_hi) A) + beta W k3
//                  coef = dloss/dlogp = -W rho A [clip = 0] + beta W (1 - e^r)
//   PGNLL:         loss = -W logp, coef = -W, clip = 0, kl = k3 (reported only)
//   PGLogProbOnly: loss, coef, clip and kl are zero
// with r = ref - logp and k3 = e^r - r - 1 (0 without ref). Null outputs are
// skipped. The running sums are float64, as in the CPU engine. A target
// outside [0, V) (which the CPU engine rejects) gives logp 0 and zero
// loss and coef here: the GPU does not read targets back to check them.
// Backward, per chunk: recompute L, pg_dlogits writes
//   dL[n, v] = coef_n (1[v = target_n] - e^{l_v - lse_n})
// and two GEMMs give dhidden += dL . head_chunk and dhead_chunk += dL^T . hidden.
#include "common.cuh"

// pg_chunk_stats: grid ceil(rows/8), block 256 (a warp per row). L holds
// rows [r0, r0+rows) of the N tokens; st is [4][N] float64: m, s, t, tl.
// first = 1 on the first vocabulary chunk.
extern "C" __global__ void pg_chunk_stats(const float* L, int rows, int C, int v0, int r0, int N, const int* targets,
                                          double* st, int first) {
  int r = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (r >= rows) return;
  int n = r0 + r;
  const float* row = L + (i64)r * C;
  float mc = -SIRL_INF;
  for (int c = lane; c < C; c += 32) mc = fmaxf(mc, row[c]);
  mc = warp_max(mc);
  double sc = 0.0, tc = 0.0;
  for (int c = lane; c < C; c += 32) {
    float l = row[c], e = expf(l - mc);
    sc += (double)e;
    tc += (double)(e * l);
  }
  sc = warp_sum_d(sc);
  tc = warp_sum_d(tc);
  if (lane != 0) return;
  double* m = st;
  double* s = st + N;
  double* t = st + 2 * (i64)N;
  double* tl = st + 3 * (i64)N;
  int tg = targets[n];
  if (first) {
    m[n] = mc;
    s[n] = sc;
    t[n] = tc;
    tl[n] = 0.0;
  } else {
    double mo = m[n], M = fmax(mo, (double)mc);
    double a = exp(mo - M), c = exp((double)mc - M);
    m[n] = M;
    s[n] = s[n] * a + sc * c;
    t[n] = t[n] * a + tc * c;
  }
  if (tg >= v0 && tg < v0 + C) tl[n] = row[tg - v0];
}

// pg_finalize: one thread per token, in float64. Output pointers may be
// null (skipped); adv and oldlogp are read only in PGTokenClip, weight in
// PGTokenClip and PGNLL, ref only when non-null.
extern "C" __global__ void pg_finalize(float* logp_o, float* ent_o, float* lse_o, float* loss_o, float* coef_o,
                                       float* clip_o, float* kl_o, const double* st, const int* targets, int V,
                                       const float* adv, const float* oldlogp, const float* ref, const float* weight,
                                       int N, int mode, float eps_lo, float eps_hi, float beta) {
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  double m = st[n], s = st[N + n], t = st[2 * (i64)N + n], tl = st[3 * (i64)N + n];
  int tg = targets[n];
  bool valid = tg >= 0 && tg < V;
  double lse = m + log(s);
  double logp = valid ? tl - lse : 0.0;
  double ent = lse - t / s;
  double loss = 0.0, coef = 0.0, clip = 0.0, kl = 0.0, dkl = 0.0;
  if (valid && mode != 0) {
    double W = weight[n];
    if (ref) {
      double r = (double)ref[n] - logp;
      kl = expm1(r) - r;
      dkl = -expm1(r);
    }
    if (mode == 2) {
      loss = -W * logp;
      coef = -W;
    } else {
      double A = adv[n], rho = exp(logp - (double)oldlogp[n]);
      double lo = 1.0 - (double)eps_lo, hi = 1.0 + (double)eps_hi;
      double obj = rho * A, dobj = rho * A;
      if (A < 0 && rho < lo) {
        clip = -1.0; obj = lo * A; dobj = 0.0;
      } else if (A > 0 && rho > hi) {
        clip = 1.0; obj = hi * A; dobj = 0.0;
      }
      loss = -W * obj + (double)beta * W * kl;
      coef = -W * dobj + (double)beta * W * dkl;
    }
  }
  if (logp_o) logp_o[n] = (float)logp;
  if (ent_o) ent_o[n] = (float)ent;
  if (lse_o) lse_o[n] = (float)lse;
  if (loss_o) loss_o[n] = (float)loss;
  if (coef_o) coef_o[n] = (float)coef;
  if (clip_o) clip_o[n] = (float)clip;
  if (kl_o) kl_o[n] = (float)kl;
}

// pg_dlogits: dL[n, c] = coef_n (1[v0 + c = target_n] - e^{L[n,c] - lse_n}),
// written in dtype dtd (bf16 feeds the tensor-core GEMMs). Grid-stride.
extern "C" __global__ void pg_dlogits(const float* L, void* dL, int dtd, int N, int C, int v0, const int* targets,
                                      const float* lse, const float* coef) {
  i64 total = (i64)N * C;
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) {
    int n = (int)(i / C), c = (int)(i % C);
    float cf = coef[n];
    float g = 0.f;
    if (cf != 0.f) g = cf * ((targets[n] == v0 + c ? 1.f : 0.f) - expf(L[i] - lse[n]));
    stf(dL, dtd, i, g);
  }
}
