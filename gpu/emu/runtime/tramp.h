// tramp.h: registration of kernel entry points, included by the generated
// wrapper of each translation unit after its source. The launch trampoline
// is derived from the kernel's own signature: args[i] points to the value
// of parameter i, which is read as exactly the parameter's type.
#pragma once
#include <type_traits>
#include <utility>

extern "C" void sirl_emu_register(const char* name, int bounds, void (*tramp)(void*, void**), void* fn,
                                  int nparams, const int* sizes, const int* isptr);

template <typename F> struct sirl_emu_tramp;
template <typename... A> struct sirl_emu_tramp<void (*)(A...)> {
  template <size_t... I> static void call_(void* fn, void** args, std::index_sequence<I...>) {
    ((void (*)(A...))fn)(*(const typename std::remove_cv<A>::type*)args[I]...);
    (void)args;
  }
  static void call(void* fn, void** args) { call_(fn, args, std::index_sequence_for<A...>{}); }
  static void reg(const char* name, int bounds, void (*fn)(A...)) {
    static const int sizes[] = {0, (int)sizeof(A)...};
    static const int isptr[] = {0, (int)std::is_pointer<A>::value...};
    sirl_emu_register(name, bounds, &call, (void*)fn, (int)sizeof...(A), sizes + 1, isptr + 1);
  }
};
struct sirl_emu_registrar {
  template <typename F> sirl_emu_registrar(const char* name, int bounds, F fn) {
    sirl_emu_tramp<F>::reg(name, bounds, fn);
  }
};
#define SIRL_EMU_KERNEL(name, bounds) static sirl_emu_registrar sirl_emu_reg_##name(#name, (int)(bounds), &name);
