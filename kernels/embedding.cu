// embedding.cu: token embedding gather (forward) and scatter-add (backward).
//
// Forward: out[n, :] = table[ids[n], :]; an id outside [0, V) gives a zero row.
// Backward is deterministic and sums in the CPU engine's order: the (id, n)
// pairs are sorted (one-block bitonic sort over keys id<<32 | n), then one
// block per run of equal ids adds dout rows in increasing n onto dtable:
// dtable[id] = ((dtable[id] + dout[n0]) + dout[n1]) + ... in fp32.
#include "common.cuh"

// grid (N), block (<=256): one row per block.
extern "C" __global__ void embedding_fwd(void* out, int dto, const void* table, int dtt, const int* ids,
                                         int N, int d, int V) {
  int n = blockIdx.x;
  if (n >= N) return;
  int id = ids[n];
  bool ok = id >= 0 && id < V;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float v = ok ? ldf(table, dtt, (i64)id * d + c) : 0.f;
    stf(out, dto, (i64)n * d + c, v);
  }
}

// embedding_sort_keys: one block (1024 threads). keys has P >= N entries, P
// a power of two. Ids outside [0, V) get the key of id V (skipped later).
extern "C" __global__ void embedding_sort_keys(const int* ids, int N, int V, unsigned long long* keys, int P) {
  for (int i = threadIdx.x; i < P; i += blockDim.x) {
    unsigned long long k = ~0ull;
    if (i < N) {
      int id = ids[i];
      unsigned long long uid = (id >= 0 && id < V) ? (unsigned long long)id : (unsigned long long)V;
      k = (uid << 32) | (unsigned long long)(unsigned)i;
    }
    keys[i] = k;
  }
  __syncthreads();
  for (int k = 2; k <= P; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < P; i += blockDim.x) {
        int l = i ^ j;
        if (l > i) {
          unsigned long long a = keys[i], b = keys[l];
          bool up = (i & k) == 0;
          if ((a > b) == up) {
            keys[i] = b;
            keys[l] = a;
          }
        }
      }
      __syncthreads();
    }
  }
}

// embedding_bwd_apply: grid (N), block (<=256). Block p handles the run of
// equal ids that starts at sorted position p (other blocks exit at once).
extern "C" __global__ void embedding_bwd_apply(void* dtable, int dtt, const void* dout, int dto,
                                               const unsigned long long* keys, int N, int d, int V) {
  int p = blockIdx.x;
  if (p >= N) return;
  unsigned long long key = keys[p];
  unsigned id = (unsigned)(key >> 32);
  if (id >= (unsigned)V) return;
  if (p > 0 && (unsigned)(keys[p - 1] >> 32) == id) return;
  int end = p + 1;
  while (end < N && (unsigned)(keys[end] >> 32) == id) end++;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    i64 at = (i64)id * d + c;
    float acc = ldf(dtable, dtt, at);
    for (int q = p; q < end; q++) {
      int n = (int)(keys[q] & 0xffffffffu);
      acc += ldf(dout, dto, (i64)n * d + c);
    }
    stf(dtable, dtt, at, acc);
  }
}
