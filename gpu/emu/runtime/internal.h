// internal.h: the runtime's data structures, shared by runtime.cc (launch,
// scheduling, barriers, shared memory) and warp.cc (warp collectives).
#pragma once
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "prelude.h"

// Context switching. A context is a saved stack pointer (x86-64: the
// callee-saved registers are on the stack; MXCSR and the x87 control word
// are not switched, as no kernel changes them).
#if defined(__x86_64__) && !defined(SIRL_EMU_UCONTEXT)
extern "C" void sirl_emu_swap(void** save, void* load) __attribute__((visibility("hidden")));

namespace sirl_emu_rt {
struct Context {
  void* sp;
};
// ctx_init makes ctx start entry on the stack [stack, stack+size).
inline void ctx_init(Context* ctx, char* stack, size_t size, void (*entry)()) {
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
  uint64_t* p = (uint64_t*)top;
  *--p = 0;                // entry's return address (it never returns)
  *--p = (uint64_t)entry;  // popped by ret
  for (int i = 0; i < 6; i++) *--p = 0; // rbp rbx r12 r13 r14 r15
  ctx->sp = p;
}
inline void ctx_switch(Context* from, Context* to) { sirl_emu_swap(&from->sp, to->sp); }
} // namespace
#else
namespace sirl_emu_rt {
struct Context {
  ucontext_t uc;
};
inline void ctx_init(Context* ctx, char* stack, size_t size, void (*entry)()) {
  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = stack;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = nullptr;
  makecontext(&ctx->uc, entry, 0);
}
inline void ctx_switch(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
} // namespace
#endif

namespace sirl_emu_rt {

struct Kernel {
  std::string name;
  int bounds;
  void (*tramp)(void*, void**);
  void* fn;
  std::vector<int> sizes, isptr;
};

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
  Context sw;
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
  Context sched;
  Fiber* cur;
  sirl_emu_grid grid;
  const Kernel* k;
  void** args;
  int n;
  int exited, bar_arrived;
  std::vector<unsigned> warp_arrived; // lanes waiting at a warp collective
  std::vector<unsigned> warp_exist;   // lanes that exist in each warp
  bool restart, failed;
  std::string err;
  char* dyn;
  size_t dyn_cap, dyn_size, max_total;
  std::vector<std::pair<void*, size_t>> statics;
  size_t static_bytes;
  // the warp being scheduled: threads [sw_lo, sw_hi), in reverse when
  // sw_rev; sw_pos is the running lane's position in that order
  int sw_lo, sw_hi, sw_pos;
  bool sw_rev;
};

std::vector<Kernel>& registry();
extern Ctx* g_ctx __attribute__((visibility("hidden"))); // the running launch

std::string where(Ctx* c, const Fiber* f);
std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
void fail(Ctx* c, const Fiber* f, const std::string& msg);
// lane_at is the fiber at position li of the scheduled warp's order.
inline Fiber* lane_at(Ctx* c, int li) { return c->fibers[c->sw_rev ? c->sw_hi - 1 - li : c->sw_lo + li]; }
// yield stops f (it waits or exited). The next runnable lane of its warp in
// the scheduling order runs at once, as the scheduler would pick it;
// without one (or after a block barrier completed) the scheduler runs.
inline void yield(Fiber* f) {
  Ctx* c = f->ctx;
  if (!c->restart && !c->failed) {
    for (int li = c->sw_pos + 1, cnt = c->sw_hi - c->sw_lo; li < cnt; li++) {
      Fiber* g = lane_at(c, li);
      if (g->state == READY) {
        c->sw_pos = li;
        c->cur = g;
        sirl_emu_cur_thread = &g->t;
        ctx_switch(&f->sw, &g->sw);
        return;
      }
    }
  }
  ctx_switch(&f->sw, &c->sched);
}
// fault ends the current fiber's part in the launch with an error.
[[noreturn]] void fault(const std::string& msg);
// current is the running fiber (aborts outside a launch).
Fiber* current(const char* what);
const char* state_name(const Fiber* f);

} // namespace sirl_emu_rt
