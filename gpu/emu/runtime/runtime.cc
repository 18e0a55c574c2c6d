// runtime.cc: the emulator's execution engine, compiled into the same shared
// library as the kernels. Blocks run one after another; the threads of a
// block are fibers on the launching OS thread (a small stack switch on
// x86-64, ucontext elsewhere), scheduled warp by warp in forward or reverse
// thread order. A fiber runs until it reaches a barrier (__syncthreads), a
// warp collective (shuffle, vote, mma) or its end; barriers complete when
// every participant has arrived, and a state where nothing can run is a
// deadlock.
#include "internal.h"

#if defined(__x86_64__) && !defined(SIRL_EMU_UCONTEXT)
asm(R"(
  .text
  .globl sirl_emu_swap
  .hidden sirl_emu_swap
  .type sirl_emu_swap,@function
sirl_emu_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size sirl_emu_swap,.-sirl_emu_swap
)");
#endif

const sirl_emu_thread* sirl_emu_cur_thread;
const sirl_emu_grid* sirl_emu_cur_grid;

namespace sirl_emu_rt {

std::vector<Kernel>& registry() {
  static std::vector<Kernel> r;
  return r;
}

Ctx* g_ctx;

// launchMu makes launches of this library run one at a time, whichever
// thread or context they come from.
std::mutex launchMu;

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

[[noreturn]] void fault(const std::string& msg) {
  Ctx* c = g_ctx;
  Fiber* f = c->cur;
  fail(c, f, msg);
  f->state = FAULTED;
  ctx_switch(&f->sw, &c->sched); // never resumed: the launch resets its fibers
  abort();
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

void fiber_reset(Fiber* f) { ctx_init(&f->sw, f->stack, kStack, fiber_main); }

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
  sirl_emu_cur_thread = &f->t;
  ctx_switch(&c->sched, &f->sw);
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
    if (!w && f->state == WAIT_WARP) w = f; // the more specific report
    if (!x && f->state == EXITED) x = f;
  }
  for (Fiber* f : c->fibers) {
    if (f->idx >= c->n) break;
    if (!w && f->state == WAIT_BAR) w = f;
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
  int nw = (n + 31) / 32;
  for (;;) {
    // Warp by warp, each warp's lanes until none can run (its collectives
    // complete on the way); a completed block barrier restarts the sweep.
    bool ran = false;
    c->restart = false;
    for (int wi = 0; wi < nw && !c->restart; wi++) {
      int lo = (reverse ? nw - 1 - wi : wi) * 32, hi = lo + 32 < n ? lo + 32 : n;
      c->sw_lo = lo;
      c->sw_hi = hi;
      c->sw_rev = reverse;
      for (bool progress = true; progress && !c->restart;) {
        progress = false;
        for (int li = 0; li < hi - lo && !c->restart; li++) {
          Fiber* f = lane_at(c, li);
          while (f->state == READY && !c->restart) {
            ran = progress = true;
            c->sw_pos = li;
            resume(c, f);
            if (c->failed) return false;
            li = c->sw_pos; // yield may have run later lanes directly
            f = lane_at(c, li);
          }
        }
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

Fiber* current(const char* what) {
  Ctx* c = g_ctx;
  if (!c || !c->cur) {
    fprintf(stderr, "sirl emu: %s called outside a launch\n", what);
    abort();
  }
  return c->cur;
}

} // namespace sirl_emu_rt

using namespace sirl_emu_rt;

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
  std::lock_guard<std::mutex> lock(launchMu);
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
  c->warp_exist.assign((size_t)(c->n + 31) / 32, 0xffffffffu);
  if (c->n % 32) c->warp_exist.back() = (1u << (c->n % 32)) - 1u;
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
  const sirl_emu_grid* saved_grid = sirl_emu_cur_grid;
  g_ctx = c;
  sirl_emu_cur_grid = &c->grid;
  bool ok = true;
  for (int z = 0; z < grid[2] && ok; z++)
    for (int y = 0; y < grid[1] && ok; y++)
      for (int x = 0; x < grid[0] && ok; x++) {
        c->grid.bid = uint3{(unsigned)x, (unsigned)y, (unsigned)z};
        ok = run_block(c, reverse != 0);
      }
  g_ctx = saved;
  sirl_emu_cur_grid = saved_grid;
  sirl_emu_cur_thread = nullptr;
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
      if (o->wline != line || (o->wfile != file && strcmp(o->wfile, file) != 0)) {
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

// sirl_emu_describe writes the running kernel, block and thread (for a
// fault report); it returns the length, 0 outside a launch.
int sirl_emu_describe(char* buf, int n) {
  Ctx* c = g_ctx;
  if (!c || !c->cur || n <= 0) return 0;
  int m = snprintf(buf, (size_t)n, "%s", where(c, c->cur).c_str());
  return m < 0 ? 0 : (m < n ? m : n - 1);
}

void sirl_emu_trap(const char* file, int line) { fault(fmt("__trap() at %s:%d", file, line)); }

} // extern "C"
