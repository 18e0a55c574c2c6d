// warp.cc: warp collectives. A lane that reaches a shuffle, vote,
// __syncwarp or mma16816 records its operands and waits; the lane that
// completes the mask computes every lane's result and releases them.
#include "internal.h"

namespace sirl_emu_rt {
namespace {

// warp_complete runs the collective that self completed: every lane of the
// mask has arrived; it writes each lane's result and makes the lanes
// runnable. It returns false (with c->err) when the lanes disagree.
bool warp_complete(Ctx* c, Fiber* self);

// warp_collective records that f arrived at the collective its fields
// describe, completes it when f is the last lane of the mask to arrive,
// and waits otherwise.
void warp_collective(Fiber* f) {
  Ctx* c = f->ctx;
  unsigned exist = c->warp_exist[f->warp];
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
      // CUDA's rules for a width-w segment (w a power of two): idx wraps
      // inside the segment; xor may reach earlier segments but not later
      // ones; down and up do not leave the segment (else: own value).
      int wm = o->width - 1, seg = l & ~wm, src = l, a = o->arg;
      switch (o->kind) {
      case 0: src = seg + (a & wm); break;
      case 1: src = l ^ a; if (src < 0 || src > 31 || (src & ~wm) > seg) src = l; break;
      case 2: src = a >= 0 && (l & wm) + a <= wm ? l + a : l; break;
      case 3: src = a >= 0 && (l & wm) - a >= 0 ? l - a : l; break;
      }
      if (!(m >> src & 1u)) {
        c->err = fmt("warp shuffle (%s:%d): lane %d reads lane %d, which is not in mask 0x%08x", o->wfile, o->wline, l,
                     src, m);
        return false;
      }
      switch (o->size) { // constant sizes: no library call
      case 4: memcpy(o->out, &vals[src], 4); break;
      case 8: memcpy(o->out, &vals[src], 8); break;
      default: memcpy(o->out, &vals[src], (size_t)o->size);
      }
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

} // namespace
} // namespace sirl_emu_rt

using namespace sirl_emu_rt;

extern "C" {

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
  switch (size) {
  case 4: memcpy(&f->in, in, 4); break;
  case 8: memcpy(&f->in, in, 8); break;
  default: memcpy(&f->in, in, (size_t)size);
  }
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

} // extern "C"
