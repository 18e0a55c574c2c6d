//go:build cudaemu

package emu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
	void* h;
	int (*nk)(void);
	const char* (*name)(int);
	int (*bounds)(int);
	int (*np)(int);
	int (*param)(int, int, int*);
	void* (*ctx_new)(void);
	void (*ctx_free)(void*);
	int (*launch)(void*, int, const int*, const int*, long long, long long, void**, int, char*, int);
	int (*describe)(char*, int);
} emu_lib;

// A fault (SIGSEGV, SIGBUS) inside a kernel first prints which kernel,
// block and thread were running, then goes to the handler that was
// installed before (Go's, which reports the crash). emu_describe is the
// running launch's describer on this thread, NULL outside launches.
static __thread int (*emu_describe)(char*, int);
static struct sigaction emu_prev_segv, emu_prev_bus;

static void emu_on_fault(int sig, siginfo_t* si, void* uc) {
	int (*d)(char*, int) = emu_describe;
	if (d) {
		char b[768];
		int n = snprintf(b, sizeof b, "sirl emu: %s at address %p in ", sig == SIGSEGV ? "SIGSEGV" : "SIGBUS",
			si->si_addr);
		if (n > 0 && n < (int)sizeof b - 2) {
			n += d(b + n, (int)sizeof b - n - 2);
			b[n++] = '\n';
			if (write(2, b, (size_t)n) < 0) {}
		}
		emu_describe = NULL;
	}
	struct sigaction* p = sig == SIGSEGV ? &emu_prev_segv : &emu_prev_bus;
	if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction) {
		p->sa_sigaction(sig, si, uc);
	} else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
		p->sa_handler(sig);
	} else {
		signal(sig, SIG_DFL); // the faulting instruction runs again and ends the process
	}
}

static void emu_install_fault_handler(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = emu_on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &emu_prev_segv);
	sigaction(SIGBUS, &sa, &emu_prev_bus);
}

// emu_open dlopens the kernel library and resolves the runtime's entry
// points; it returns NULL or the reason it failed.
static const char* emu_open(emu_lib* l, const char* path) {
	l->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!l->h) return dlerror();
	l->nk = (int (*)(void))dlsym(l->h, "sirl_emu_nkernels");
	l->name = (const char* (*)(int))dlsym(l->h, "sirl_emu_kernel_name");
	l->bounds = (int (*)(int))dlsym(l->h, "sirl_emu_kernel_bounds");
	l->np = (int (*)(int))dlsym(l->h, "sirl_emu_kernel_nparams");
	l->param = (int (*)(int, int, int*))dlsym(l->h, "sirl_emu_kernel_param");
	l->ctx_new = (void* (*)(void))dlsym(l->h, "sirl_emu_ctx_new");
	l->ctx_free = (void (*)(void*))dlsym(l->h, "sirl_emu_ctx_free");
	l->launch = (int (*)(void*, int, const int*, const int*, long long, long long, void**, int, char*, int))dlsym(
		l->h, "sirl_emu_launch");
	l->describe = (int (*)(char*, int))dlsym(l->h, "sirl_emu_describe");
	if (!l->nk || !l->name || !l->bounds || !l->np || !l->param || !l->ctx_new || !l->ctx_free || !l->launch ||
			!l->describe) {
		dlclose(l->h);
		l->h = NULL;
		return "missing sirl_emu_* entry points";
	}
	return NULL;
}
static void emu_close(emu_lib* l) { if (l->h) dlclose(l->h); l->h = NULL; }
static int emu_nk(emu_lib* l) { return l->nk(); }
static const char* emu_name(emu_lib* l, int i) { return l->name(i); }
static int emu_bounds(emu_lib* l, int i) { return l->bounds(i); }
static int emu_np(emu_lib* l, int i) { return l->np(i); }
static int emu_param(emu_lib* l, int i, int j, int* isptr) { return l->param(i, j, isptr); }
static void* emu_ctx_new(emu_lib* l) { return l->ctx_new(); }
static void emu_ctx_free(emu_lib* l, void* c) { l->ctx_free(c); }
static int emu_launch(emu_lib* l, void* ctx, int k, const int* grid, const int* block, long long dyn,
		long long maxTotal, void** args, int reverse, char* err, int errlen) {
	emu_describe = l->describe;
	int r = l->launch(ctx, k, grid, block, dyn, maxTotal, args, reverse, err, errlen);
	emu_describe = NULL;
	return r;
}

// Device memory: n bytes rounded up to 256, placed so that they end where
// an inaccessible guard page begins (another guard page precedes them), so
// a kernel reading or writing past an allocation faults at once.
static size_t emu_page(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static size_t emu_data_pages(size_t n) { return (((n + 255) & ~(size_t)255) + emu_page() - 1) / emu_page(); }
static void* emu_alloc(size_t n) {
	size_t pg = emu_page(), dp = emu_data_pages(n);
	char* base = (char*)mmap(NULL, (dp + 2) * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) return NULL;
	if (mprotect(base + pg, dp * pg, PROT_READ | PROT_WRITE) != 0) {
		munmap(base, (dp + 2) * pg);
		return NULL;
	}
	return base + pg + dp * pg - ((n + 255) & ~(size_t)255);
}
static void emu_free(void* p, size_t n) {
	size_t pg = emu_page(), dp = emu_data_pages(n);
	char* base = (char*)p + ((n + 255) & ~(size_t)255) - dp * pg - pg;
	munmap(base, (dp + 2) * pg);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// lib is one dlopened kernel library with its own execution context.
type lib struct {
	l   *C.emu_lib
	ctx unsafe.Pointer
	// argBuf holds copies of the parameter values of one launch, argv
	// points into it (both C memory, so the library may keep no Go
	// pointers).
	argBuf unsafe.Pointer
	argCap int
	argv   unsafe.Pointer
	errBuf *C.char
}

const errLen = 2048

func openLib(path string) (*lib, error) {
	l := (*C.emu_lib)(C.calloc(1, C.size_t(unsafe.Sizeof(C.emu_lib{}))))
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if why := C.emu_open(l, cp); why != nil {
		C.free(unsafe.Pointer(l))
		return nil, fmt.Errorf("emu: dlopen %s: %s", path, C.GoString(why))
	}
	return &lib{
		l:      l,
		ctx:    C.emu_ctx_new(l),
		argv:   C.calloc(64, 8),
		errBuf: (*C.char)(C.calloc(errLen, 1)),
	}, nil
}

func (l *lib) close() {
	C.emu_ctx_free(l.l, l.ctx)
	C.free(l.argBuf)
	C.free(l.argv)
	C.free(unsafe.Pointer(l.errBuf))
	C.emu_close(l.l)
	C.free(unsafe.Pointer(l.l))
}

// kernelInfo is what the library's registration table says of kernel i.
type kernelInfo struct {
	name   string
	bounds int
	sizes  []int
	isPtr  []bool
}

func (l *lib) kernels() []kernelInfo {
	n := int(C.emu_nk(l.l))
	out := make([]kernelInfo, n)
	for i := range out {
		k := kernelInfo{name: C.GoString(C.emu_name(l.l, C.int(i))), bounds: int(C.emu_bounds(l.l, C.int(i)))}
		np := int(C.emu_np(l.l, C.int(i)))
		for j := 0; j < np; j++ {
			var isp C.int
			k.sizes = append(k.sizes, int(C.emu_param(l.l, C.int(i), C.int(j), &isp)))
			k.isPtr = append(k.isPtr, isp != 0)
		}
		out[i] = k
	}
	return out
}

// launch copies the parameter values (vals[i] is parameter i's bytes) into
// C memory and runs kernel ki.
func (l *lib) launch(ki int, grid, block [3]int, dyn, maxTotal int64, vals [][]byte, reverse bool) error {
	total := 0
	for _, v := range vals {
		total += (len(v) + 15) &^ 15
	}
	if len(vals) > 64 {
		return errors.New("emu: more than 64 kernel parameters")
	}
	if total > l.argCap {
		C.free(l.argBuf)
		l.argBuf = C.calloc(C.size_t(total+16), 1)
		l.argCap = total
	}
	off := 0
	for i, v := range vals {
		dst := unsafe.Add(l.argBuf, off)
		if len(v) > 0 {
			C.memcpy(dst, unsafe.Pointer(&v[0]), C.size_t(len(v)))
		}
		*(*unsafe.Pointer)(unsafe.Add(l.argv, 8*i)) = dst
		off += (len(v) + 15) &^ 15
	}
	g := [3]C.int{C.int(grid[0]), C.int(grid[1]), C.int(grid[2])}
	b := [3]C.int{C.int(block[0]), C.int(block[1]), C.int(block[2])}
	rev := C.int(0)
	if reverse {
		rev = 1
	}
	r := C.emu_launch(l.l, l.ctx, C.int(ki), &g[0], &b[0], C.longlong(dyn), C.longlong(maxTotal),
		(*unsafe.Pointer)(l.argv), rev, l.errBuf, errLen)
	if r != 0 {
		return errors.New(C.GoString(l.errBuf))
	}
	return nil
}

// hostAlloc returns n bytes of C memory aligned to 256 bytes between guard
// pages, or nil.
func hostAlloc(n int64) unsafe.Pointer { return C.emu_alloc(C.size_t(n)) }

// hostFree releases hostAlloc(n)'s p.
func hostFree(p unsafe.Pointer, n int64) { C.emu_free(p, C.size_t(n)) }

// installFaultHandler makes faults inside kernels name the kernel, block
// and thread (once per process).
func installFaultHandler() { C.emu_install_fault_handler() }
