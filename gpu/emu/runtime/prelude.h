// prelude.h: the CUDA surface the kernels use, for the host C++ compiler.
// Force-included before every translation unit by the emulator (gpu/emu).
// Thread and block indices are per fiber; barriers, shuffles and mma are
// cooperative calls into the runtime (runtime.cc), which schedules the
// threads of one block as fibers on one OS thread.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#ifdef SIRL_EMU_SCAN
// Scan mode (g++ -E): kernels and their bounds stay visible as markers.
#define __global__ __sirl_global__
#define __launch_bounds__(...) __sirl_lb__(__VA_ARGS__)
#else
#define __global__
#define __launch_bounds__(...)
#endif
#define __device__
#define __host__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __constant__
#define __align__(n) alignas(n)

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }

// The runtime's per-fiber and per-launch state. A library runs one launch
// at a time (runtime.cc holds a lock), so these are plain globals: the
// running fiber's thread index and the launch's grid.
struct sirl_emu_thread {
  uint3 tid;
};
struct sirl_emu_grid {
  uint3 bid;
  dim3 bdim, gdim;
};
extern const sirl_emu_thread* sirl_emu_cur_thread __attribute__((visibility("hidden")));
extern const sirl_emu_grid* sirl_emu_cur_grid __attribute__((visibility("hidden")));
extern "C" {
void sirl_emu_syncthreads(const char* file, int line);
void sirl_emu_warp_shfl(unsigned mask, int kind, int arg, int width, const void* in, void* out, int size,
                        const char* file, int line);
unsigned sirl_emu_warp_vote(unsigned mask, int kind, int pred, const char* file, int line);
void sirl_emu_mma16816(float c[4], const unsigned a[4], unsigned b0, unsigned b1, const char* file, int line);
void* sirl_emu_dyn_smem(void);
void sirl_emu_static_smem(void* p, size_t n);
[[noreturn]] void sirl_emu_trap(const char* file, int line);
}

#define threadIdx (sirl_emu_cur_thread->tid)
#define blockIdx (sirl_emu_cur_grid->bid)
#define blockDim (sirl_emu_cur_grid->bdim)
#define gridDim (sirl_emu_cur_grid->gdim)
#define warpSize 32

#define __syncthreads() sirl_emu_syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) sirl_emu_syncwarp_(__FILE__, __LINE__, ##__VA_ARGS__)
#define __trap() sirl_emu_trap(__FILE__, __LINE__)
#define __threadfence() ((void)0)
#define __threadfence_block() ((void)0)
#define __shfl_sync(m, v, ...) sirl_emu_shfl_(m, v, 0, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(m, v, ...) sirl_emu_shfl_(m, v, 1, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(m, v, ...) sirl_emu_shfl_(m, v, 2, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(m, v, ...) sirl_emu_shfl_(m, v, 3, __FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(m, p) sirl_emu_warp_vote(m, 0, (p) ? 1 : 0, __FILE__, __LINE__)
#define __any_sync(m, p) (sirl_emu_warp_vote(m, 1, (p) ? 1 : 0, __FILE__, __LINE__) != 0u)
#define __all_sync(m, p) (sirl_emu_warp_vote(m, 2, (p) ? 1 : 0, __FILE__, __LINE__) != 0u)
#define mma16816(c, a, b0, b1) sirl_emu_mma16816(c, a, b0, b1, __FILE__, __LINE__)

static inline void sirl_emu_syncwarp_(const char* f, int l, unsigned mask = 0xffffffffu) {
  sirl_emu_warp_vote(mask, 3, 0, f, l);
}
// Shuffles move the value's bytes (any trivially copyable type up to 8 bytes).
template <typename T>
static inline T sirl_emu_shfl_(unsigned mask, T v, int kind, const char* f, int l, int arg, int width = 32) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of an unsupported type");
  T out;
  sirl_emu_warp_shfl(mask, kind, arg, width, &v, &out, (int)sizeof(T), f, l);
  return out;
}

// Bit casts.
static inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
static inline float __uint_as_float(unsigned x) { float f; memcpy(&f, &x, 4); return f; }
static inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline unsigned __float_as_uint(float x) { unsigned i; memcpy(&i, &x, 4); return i; }
static inline double __longlong_as_double(long long x) { double d; memcpy(&d, &x, 8); return d; }
static inline long long __double_as_longlong(double x) { long long i; memcpy(&i, &x, 8); return i; }

// Math. The build uses -ffp-contract=off, so every operation is rounded
// separately as the _rn intrinsics require.
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
// glibc declares its own __expf etc.; the CUDA fast intrinsics map to the
// correctly rounded functions.
#define __expf(a) expf(a)
#define __logf(a) logf(a)
#define __sinf(a) sinf(a)
#define __cosf(a) cosf(a)
#define __powf(a, b) powf(a, b)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __saturatef(float a) { return a < 0.f ? 0.f : (a > 1.f ? 1.f : a); }
static inline float rsqrtf(float a) { return 1.0f / std::sqrt(a); }
static inline double rsqrt(double a) { return 1.0 / std::sqrt(a); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
template <typename T> static inline T __ldg(const T* p) { return *p; }

// min and max as CUDA overloads them: the usual arithmetic conversions.
template <typename A, typename B>
static inline typename std::common_type<A, B>::type min(A a, B b) {
  typedef typename std::common_type<A, B>::type C;
  return (C)a < (C)b ? (C)a : (C)b;
}
template <typename A, typename B>
static inline typename std::common_type<A, B>::type max(A a, B b) {
  typedef typename std::common_type<A, B>::type C;
  return (C)a > (C)b ? (C)a : (C)b;
}

// Atomics. The threads of a launch are fibers on one OS thread that switch
// only at barriers and warp collectives, so a read-modify-write is atomic.
template <typename T> static inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }
template <typename T> static inline T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; }
template <typename T> static inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
template <typename T> static inline T atomicMax(T* p, T v) { T o = *p; if (v > o) *p = v; return o; }
template <typename T> static inline T atomicMin(T* p, T v) { T o = *p; if (v < o) *p = v; return o; }
template <typename T> static inline T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }
template <typename T> static inline T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }
template <typename T> static inline T atomicXor(T* p, T v) { T o = *p; *p = o ^ v; return o; }
template <typename T> static inline T atomicCAS(T* p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
static inline unsigned atomicInc(unsigned* p, unsigned v) { unsigned o = *p; *p = o >= v ? 0u : o + 1u; return o; }
static inline unsigned atomicDec(unsigned* p, unsigned v) { unsigned o = *p; *p = (o == 0u || o > v) ? v : o - 1u; return o; }
// Mixed-type calls resolve as nvcc's overloads do (the pointer decides).
static inline unsigned atomicAdd(unsigned* p, int v) { return atomicAdd<unsigned>(p, (unsigned)v); }
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned v) { return atomicAdd<unsigned long long>(p, v); }
static inline float atomicAdd(float* p, double v) { return atomicAdd<float>(p, (float)v); }

