// runtime.cc: the emulator's execution engine, compiled into the same shared
// library as the kernels. Blocks run one after another; the threads of a
// block are fibers on the launching OS thread, started with ucontext and
// switched with _setjmp/_longjmp, scheduled in forward or reverse thread
// order. A fiber runs until it reaches a barrier (__syncthreads), a warp
// collective (shuffle, vote, mma) or its end; barriers complete when every
// participant has arrived, and a state where nothing can run is a deadlock.
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "prelude.h"

__thread const sirl_emu_thread* sirl_emu_tls_thread;
__thread const sirl_emu_grid* sirl_emu_tls_grid;

namespace {

struct Kernel {
  std::string name;
  int bounds;
  void (*tramp)(void*, void**);
  void* fn;
  std::vector<int> sizes, isptr;
};

std::vector<Kernel>& registry() {
  static std::vector<Kernel> r;
  return r;
}

enum State { READY, WAIT_BAR, WAIT_WARP, EXITED, FAULTED };
enum Coll { C_SHFL, C_VOTE, C_MMA };

const size_t kStack = 256 << 10;
const size_t kGuard = 256; // bytes after dynamic shared memory, checked after each block
const size_t kStaticLimit = 48 << 10;

struct Ctx;

struct Fiber {
  sirl_emu_thread t;
  Ctx* ctx;
  int idx, warp, lane;
  int state;
  bool started;
  jmp_buf jb;
  ucontext_t uc;
  char* stack;
  const char* wfile;
  int wline;
  // warp collective in progress
  int coll;
  unsigned mask;
  int kind, arg, width, size, pred;
  uint64_t in;
  void* out;
  unsigned a[4], b0, b1;
  float* c;
};

struct Ctx {
  std::vector<Fiber*> fibers;
  jmp_buf sched;
  Fiber* cur;
  sirl_emu_grid grid;
  const Kernel* k;
  void** args;
  int n;
  int exited, bar_arrived;
  std::vector<unsigned> warp_arrived; // lanes waiting at a warp collective
  bool restart, failed;
  std::string err;
  char* dyn;
  size_t dyn_cap, dyn_size, max_total;
  std::vector<std::pair<void*, size_t>> statics;
  size_t static_bytes;
};

__thread Ctx* g_ctx;

std::string where(Ctx* c, const Fiber* f) {
  char b[256];
  snprintf(b, sizeof b, "kernel %s block (%u,%u,%u) thread (%u,%u,%u)", c->k->name.c_str(), c->grid.bid.x,
           c->grid.bid.y, c->grid.bid.z, f->t.tid.x, f->t.tid.y, f->t.tid.z);
  return b;
}

std::string fmt(const char* f, ...) {
  char b[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  return b;
}

void fail(Ctx* c, const Fiber* f, const std::string& msg) {
  if (c->failed) return;
  c->failed = true;
  c->err = (f ? where(c, f) + ": " : std::string("kernel ") + c->k->name + ": ") + msg;
}

inline void yield(Fiber* f) {
  if (!_setjmp(f->jb)) _longjmp(f->ctx->sched, 1);
}

// fault ends the current fiber's part in the launch with an error.
[[noreturn]] void fault(const std::string& msg) {
  Ctx* c = g_ctx;
  Fiber* f = c->cur;
  fail(c, f, msg);
  f->state = FAULTED;
  _longjmp(c->sched, 1);
}

void fiber_main() {
  Fiber* f = g_ctx->cur;
  for (;;) {
    Ctx* c = f->ctx;
    c->k->tramp(c->k->fn, c->args);
    f->state = EXITED;
    c->exited++;
    yield(f);
  }
}

void fiber_reset(Fiber* f) {
  getcontext(&f->uc);
  f->uc.uc_stack.ss_sp = f->stack;
  f->uc.uc_stack.ss_size = kStack;
  f->uc.uc_link = nullptr;
  makecontext(&f->uc, fiber_main, 0);
  f->started = false;
}

Fiber* fiber_new(Ctx* c) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void* m = mmap(nullptr, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  mprotect(m, page, PROT_NONE); // overflow faults instead of corrupting
  Fiber* f = new Fiber();
  f->ctx = c;
  f->stack = (char*)m + page;
  fiber_reset(f);
  return f;
}

void resume(Ctx* c, Fiber* f) {
  c->cur = f;
  sirl_emu_tls_thread = &f->t;
  if (!_setjmp(c->sched)) {
    if (!f->started) {
      f->started = true;
      setcontext(&f->uc);
    }
    _longjmp(f->jb, 1);
  }
}

const char* state_name(const Fiber* f) {
  switch (f->state) {
  case WAIT_BAR:
    return "__syncthreads";
  case WAIT_WARP:
    return f->coll == C_MMA ? "mma16816" : f->coll == C_SHFL ? "a warp shuffle" : "a warp vote/__syncwarp";
  }
  return "?";
}

// deadlock explains why no fiber can run.
std::string deadlock(Ctx* c) {
  const Fiber* w = nullptr;
  const Fiber* x = nullptr;
  for (Fiber* f : c->fibers) {
    if (f->idx >= c->n) break;
    if (!w && (f->state == WAIT_BAR || f->state == WAIT_WARP)) w = f;
    if (!x && f->state == EXITED) x = f;
  }
  if (!w) return "no thread can run";
  std::string s = fmt("deadlock: thread (%u,%u,%u) waits at %s (%s:%d)", w->t.tid.x, w->t.tid.y, w->t.tid.z,
                      state_name(w), w->wfile, w->wline);
  if (w->state == WAIT_WARP) {
    for (int l = 0; l < 32; l++) {
      if (!(w->mask >> l & 1u)) continue;
      int i = w->warp * 32 + l;
      const Fiber* o = c->fibers[i];
      if (o->state == EXITED) return s + fmt(" for lane %d, which exited", l);
      if (o->state == WAIT_BAR)
        return s + fmt(" for lane %d, which waits at __syncthreads (%s:%d)", l, o->wfile, o->wline);
    }
    return s;
  }
  if (x) return s + fmt(" while thread (%u,%u,%u) exited (barrier divergence)", x->t.tid.x, x->t.tid.y, x->t.tid.z);
  for (Fiber* f : c->fibers) {
    if (f->idx >= c->n) break;
    if (f->state == WAIT_WARP)
      return s + fmt(" while thread (%u,%u,%u) waits at %s (%s:%d)", f->t.tid.x, f->t.tid.y, f->t.tid.z, state_name(f),
                     f->wfile, f->wline);
  }
  return s;
}

void poison_block(Ctx* c) {
  memset(c->dyn, 0xFF, c->dyn_size + kGuard);
  c->statics.clear();
  c->static_bytes = 0;
}

bool run_block(Ctx* c, bool reverse) {
  int n = c->n;
  for (int i = 0; i < n; i++) c->fibers[i]->state = READY;
  c->exited = 0;
  c->bar_arrived = 0;
  for (unsigned& w : c->warp_arrived) w = 0;
  poison_block(c);
  for (;;) {
    bool ran = false;
    c->restart = false;
    for (int s = 0; s < n && !c->restart; s++) {
      Fiber* f = c->fibers[reverse ? n - 1 - s : s];
      while (f->state == READY && !c->restart) {
        ran = true;
        resume(c, f);
        if (c->failed) return false;
      }
    }
    if (c->exited == n) break;
    if (!ran) {
      fail(c, nullptr, "");
      c->err = fmt("kernel %s block (%u,%u,%u): ", c->k->name.c_str(), c->grid.bid.x, c->grid.bid.y, c->grid.bid.z) +
               deadlock(c);
      return false;
    }
  }
  for (size_t i = 0; i < kGuard; i++) {
    if ((unsigned char)c->dyn[c->dyn_size + i] != 0xFF) {
      fail(c, nullptr, fmt("block (%u,%u,%u) wrote dynamic shared memory at byte %zu, past its %zu bytes",
                           c->grid.bid.x, c->grid.bid.y, c->grid.bid.z, c->dyn_size + i, c->dyn_size));
      return false;
    }
  }
  return true;
}

// arrive_warp records lane f at a warp collective. It returns true when f
// completed the collective (the results of every lane are written).
bool warp_complete(Ctx* c, Fiber* f);

void warp_collective(Fiber* f) {
  Ctx* c = f->ctx;
  int base = f->warp * 32;
  unsigned exist = 0;
  for (int l = 0; l < 32 && base + l < c->n; l++) exist |= 1u << l;
  if (!(f->mask >> f->lane & 1u)) fault(fmt("%s (%s:%d) with mask 0x%08x that excludes the calling lane %d",
                                            state_name(f), f->wfile, f->wline, f->mask, f->lane));
  if (f->mask & ~exist)
    fault(fmt("%s (%s:%d) with mask 0x%08x names lanes that do not exist (block of %d threads)", state_name(f),
              f->wfile, f->wline, f->mask, c->n));
  c->warp_arrived[f->warp] |= 1u << f->lane;
  f->state = WAIT_WARP;
  if ((c->warp_arrived[f->warp] & f->mask) == f->mask) {
    if (!warp_complete(c, f)) fault(c->err);
    return;
  }
  yield(f);
}

bool warp_complete(Ctx* c, Fiber* self) {
  int base = self->warp * 32;
  unsigned m = self->mask;
  Fiber* lanes[32] = {};
  for (int l = 0; l < 32; l++) {
    if (!(m >> l & 1u)) continue;
    Fiber* o = c->fibers[base + l];
    if (o->mask != m || o->coll != self->coll) {
      c->err = fmt("warp collective mismatch: lane %d is at %s (%s:%d) with mask 0x%08x, lane %d at %s (%s:%d) "
                   "with mask 0x%08x",
                   self->lane, state_name(self), self->wfile, self->wline, m, l, state_name(o), o->wfile, o->wline,
                   o->mask);
      return false;
    }
    lanes[l] = o;
  }
  if (self->coll == C_SHFL) {
    uint64_t vals[32];
    for (int l = 0; l < 32; l++)
      if (lanes[l]) vals[l] = lanes[l]->in;
    for (int l = 0; l < 32; l++) {
      Fiber* o = lanes[l];
      if (!o) continue;
      int w = o->width, seg = (l / w) * w, src = l;
      switch (o->kind) {
      case 0: src = seg + ((o->arg % w) + w) % w; break;
      case 1: src = l ^ o->arg; if (src / w != l / w || src > 31 || src < 0) src = l; break;
      case 2: src = (l % w) + o->arg < w ? l + o->arg : l; break;
      case 3: src = (l % w) - o->arg >= 0 ? l - o->arg : l; break;
      }
      if (!(m >> src & 1u)) {
        c->err = fmt("warp shuffle (%s:%d): lane %d reads lane %d, which is not in mask 0x%08x", o->wfile, o->wline, l,
                     src, m);
        return false;
      }
      memcpy(o->out, &vals[src], (size_t)o->size);
    }
  } else if (self->coll == C_VOTE) {
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++)
      if (lanes[l] && lanes[l]->pred) ballot |= 1u << l;
    for (int l = 0; l < 32; l++) {
      Fiber* o = lanes[l];
      if (!o) continue;
      unsigned r = 0;
      switch (o->kind) {
      case 0: r = ballot; break;
      case 1: r = ballot != 0; break;
      case 2: r = ballot == m; break;
      }
      *(unsigned*)o->out = r;
    }
  } else {
    if (m != 0xffffffffu) {
      c->err = fmt("mma16816 (%s:%d) needs all 32 lanes, mask 0x%08x", self->wfile, self->wline, m);
      return false;
    }
    // Fragment tables of mma.m16n8k16 .row.col (PTX ISA), g = lane/4, t = lane%4.
    double A[16][16], B[16][8], C[16][8];
    auto bf = [](unsigned h) {
      unsigned u = h << 16;
      float x;
      memcpy(&x, &u, 4);
      return (double)x;
    };
    for (int l = 0; l < 32; l++) {
      Fiber* o = lanes[l];
      int g = l >> 2, t = l & 3;
      for (int h = 0; h < 2; h++) {
        A[g][2 * t + h] = bf(o->a[0] >> (16 * h) & 0xffffu);
        A[g + 8][2 * t + h] = bf(o->a[1] >> (16 * h) & 0xffffu);
        A[g][2 * t + 8 + h] = bf(o->a[2] >> (16 * h) & 0xffffu);
        A[g + 8][2 * t + 8 + h] = bf(o->a[3] >> (16 * h) & 0xffffu);
        B[2 * t + h][g] = bf(o->b0 >> (16 * h) & 0xffffu);
        B[2 * t + 8 + h][g] = bf(o->b1 >> (16 * h) & 0xffffu);
        C[g][2 * t + h] = o->c[h];
        C[g + 8][2 * t + h] = o->c[2 + h];
      }
    }
    float D[16][8];
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 8; j++) {
        double s = C[i][j];
        for (int k = 0; k < 16; k++) s += A[i][k] * B[k][j];
        D[i][j] = (float)s;
      }
    for (int l = 0; l < 32; l++) {
      Fiber* o = lanes[l];
      int g = l >> 2, t = l & 3;
      o->c[0] = D[g][2 * t];
      o->c[1] = D[g][2 * t + 1];
      o->c[2] = D[g + 8][2 * t];
      o->c[3] = D[g + 8][2 * t + 1];
    }
  }
  for (int l = 0; l < 32; l++)
    if (lanes[l]) lanes[l]->state = READY;
  c->warp_arrived[self->warp] &= ~m;
  return true;
}

Fiber* current(const char* what) {
  Ctx* c = g_ctx;
  if (!c || !c->cur) {
    fprintf(stderr, "sirl emu: %s called outside a launch\n", what);
    abort();
  }
  return c->cur;
}

} // namespace

extern "C" {

void sirl_emu_register(const char* name, int bounds, void (*tramp)(void*, void**), void* fn, int nparams,
                       const int* sizes, const int* isptr) {
  Kernel k;
  k.name = name;
  k.bounds = bounds;
  k.tramp = tramp;
  k.fn = fn;
  k.sizes.assign(sizes, sizes + nparams);
  k.isptr.assign(isptr, isptr + nparams);
  registry().push_back(k);
}

int sirl_emu_nkernels(void) { return (int)registry().size(); }
const char* sirl_emu_kernel_name(int i) { return registry()[i].name.c_str(); }
int sirl_emu_kernel_bounds(int i) { return registry()[i].bounds; }
int sirl_emu_kernel_nparams(int i) { return (int)registry()[i].sizes.size(); }
int sirl_emu_kernel_param(int i, int j, int* isptr) {
  *isptr = registry()[i].isptr[j];
  return registry()[i].sizes[j];
}

void* sirl_emu_ctx_new(void) { return new Ctx(); }

void sirl_emu_ctx_free(void* p) {
  Ctx* c = (Ctx*)p;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  for (Fiber* f : c->fibers) {
    munmap(f->stack - page, kStack + page);
    delete f;
  }
  free(c->dyn);
  delete c;
}

// sirl_emu_launch runs kernel ki over the grid; the limits (block size,
// shared memory, pointers) were checked by the caller. It returns 0, or -1
// with the message in err.
int sirl_emu_launch(void* ctx, int ki, const int grid[3], const int block[3], long long dyn, long long max_total,
                    void** args, int reverse, char* err, int errlen) {
  Ctx* c = (Ctx*)ctx;
  c->k = &registry()[ki];
  c->args = args;
  c->n = block[0] * block[1] * block[2];
  c->failed = false;
  c->err.clear();
  c->max_total = (size_t)max_total;
  while ((int)c->fibers.size() < c->n) {
    Fiber* f = fiber_new(c);
    if (!f) {
      snprintf(err, (size_t)errlen, "kernel %s: cannot map a fiber stack", c->k->name.c_str());
      return -1;
    }
    f->idx = (int)c->fibers.size();
    c->fibers.push_back(f);
  }
  c->warp_arrived.assign((size_t)(c->n + 31) / 32, 0u);
  for (int i = 0; i < c->n; i++) {
    Fiber* f = c->fibers[i];
    f->t.tid.x = (unsigned)(i % block[0]);
    f->t.tid.y = (unsigned)(i / block[0] % block[1]);
    f->t.tid.z = (unsigned)(i / (block[0] * block[1]));
    f->warp = i / 32;
    f->lane = i % 32;
  }
  if (c->dyn_cap < (size_t)dyn + kGuard || !c->dyn) {
    free(c->dyn);
    c->dyn_cap = (size_t)dyn + kGuard;
    if (posix_memalign((void**)&c->dyn, 256, c->dyn_cap) != 0) {
      c->dyn = nullptr;
      c->dyn_cap = 0;
      snprintf(err, (size_t)errlen, "kernel %s: cannot allocate %lld bytes of shared memory", c->k->name.c_str(), dyn);
      return -1;
    }
  }
  c->dyn_size = (size_t)dyn;
  c->grid.bdim = dim3{(unsigned)block[0], (unsigned)block[1], (unsigned)block[2]};
  c->grid.gdim = dim3{(unsigned)grid[0], (unsigned)grid[1], (unsigned)grid[2]};
  Ctx* saved = g_ctx;
  const sirl_emu_grid* saved_grid = sirl_emu_tls_grid;
  g_ctx = c;
  sirl_emu_tls_grid = &c->grid;
  bool ok = true;
  for (int z = 0; z < grid[2] && ok; z++)
    for (int y = 0; y < grid[1] && ok; y++)
      for (int x = 0; x < grid[0] && ok; x++) {
        c->grid.bid = uint3{(unsigned)x, (unsigned)y, (unsigned)z};
        ok = run_block(c, reverse != 0);
      }
  g_ctx = saved;
  sirl_emu_tls_grid = saved_grid;
  sirl_emu_tls_thread = nullptr;
  c->cur = nullptr;
  if (!ok) {
    // Fibers stopped mid-kernel are abandoned: restart them from the top.
    for (Fiber* f : c->fibers) fiber_reset(f);
    snprintf(err, (size_t)errlen, "%s", c->err.c_str());
    return -1;
  }
  return 0;
}

void sirl_emu_syncthreads(const char* file, int line) {
  Fiber* f = current("__syncthreads");
  Ctx* c = f->ctx;
  f->state = WAIT_BAR;
  f->wfile = file;
  f->wline = line;
  if (++c->bar_arrived == c->n) {
    for (int i = 0; i < c->n; i++) {
      Fiber* o = c->fibers[i];
      if (o->wline != line || strcmp(o->wfile, file) != 0) {
        f->state = READY;
        fault(fmt("barrier divergence: this thread is at __syncthreads (%s:%d), thread (%u,%u,%u) at __syncthreads "
                  "(%s:%d)",
                  file, line, o->t.tid.x, o->t.tid.y, o->t.tid.z, o->wfile, o->wline));
      }
    }
    for (int i = 0; i < c->n; i++) c->fibers[i]->state = READY;
    c->bar_arrived = 0;
    c->restart = true;
  }
  yield(f);
}

void sirl_emu_warp_shfl(unsigned mask, int kind, int arg, int width, const void* in, void* out, int size,
                        const char* file, int line) {
  Fiber* f = current("__shfl_sync");
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
    fault(fmt("warp shuffle (%s:%d) with width %d (must be a power of two <= 32)", file, line, width));
  f->coll = C_SHFL;
  f->mask = mask;
  f->kind = kind;
  f->arg = arg;
  f->width = width;
  f->size = size;
  f->in = 0;
  memcpy(&f->in, in, (size_t)size);
  f->out = out;
  f->wfile = file;
  f->wline = line;
  warp_collective(f);
}

unsigned sirl_emu_warp_vote(unsigned mask, int kind, int pred, const char* file, int line) {
  Fiber* f = current("warp vote");
  unsigned r = 0;
  f->coll = C_VOTE;
  f->mask = mask;
  f->kind = kind;
  f->pred = pred;
  f->out = &r;
  f->wfile = file;
  f->wline = line;
  warp_collective(f);
  return r;
}

void sirl_emu_mma16816(float c[4], const unsigned a[4], unsigned b0, unsigned b1, const char* file, int line) {
  Fiber* f = current("mma16816");
  f->coll = C_MMA;
  f->mask = 0xffffffffu;
  memcpy(f->a, a, sizeof f->a);
  f->b0 = b0;
  f->b1 = b1;
  f->c = c;
  f->wfile = file;
  f->wline = line;
  warp_collective(f);
}

void* sirl_emu_dyn_smem(void) { return current("dynamic shared memory")->ctx->dyn; }

void sirl_emu_static_smem(void* p, size_t n) {
  Fiber* f = current("__shared__");
  Ctx* c = f->ctx;
  for (auto& s : c->statics)
    if (s.first == p) return;
  c->statics.emplace_back(p, n);
  memset(p, 0xFF, n);
  c->static_bytes += n;
  if (c->static_bytes > kStaticLimit)
    fault(fmt("static shared memory %zu bytes exceeds the %zu-byte limit", c->static_bytes, kStaticLimit));
  if (c->static_bytes + c->dyn_size > c->max_total)
    fault(fmt("static (%zu) + dynamic (%zu) shared memory exceeds the %zu bytes allowed", c->static_bytes,
              c->dyn_size, c->max_total));
}

void sirl_emu_trap(const char* file, int line) { fault(fmt("__trap() at %s:%d", file, line)); }

} // extern "C"
