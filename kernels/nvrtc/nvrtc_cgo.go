//go:build linux && cgo

package nvrtc

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef int (*fn_version)(int*, int*);
typedef int (*fn_create)(void**, const char*, const char*, int, const char* const*, const char* const*);
typedef int (*fn_destroy)(void**);
typedef int (*fn_compile)(void*, int, const char* const*);
typedef int (*fn_size)(void*, size_t*);
typedef int (*fn_get)(void*, char*);
typedef const char* (*fn_errstr)(int);

typedef struct {
	void* h;
	fn_version version;
	fn_create create;
	fn_destroy destroy;
	fn_compile compile;
	fn_size logSize; fn_get log;
	fn_size ptxSize; fn_get ptx;
	fn_size cubinSize; fn_get cubin;
	fn_errstr errstr;
} nvrtc_lib;

static int nvrtc_open(nvrtc_lib* L, const char* name) {
	L->h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!L->h) return 1;
	L->version = (fn_version)dlsym(L->h, "nvrtcVersion");
	L->create = (fn_create)dlsym(L->h, "nvrtcCreateProgram");
	L->destroy = (fn_destroy)dlsym(L->h, "nvrtcDestroyProgram");
	L->compile = (fn_compile)dlsym(L->h, "nvrtcCompileProgram");
	L->logSize = (fn_size)dlsym(L->h, "nvrtcGetProgramLogSize");
	L->log = (fn_get)dlsym(L->h, "nvrtcGetProgramLog");
	L->ptxSize = (fn_size)dlsym(L->h, "nvrtcGetPTXSize");
	L->ptx = (fn_get)dlsym(L->h, "nvrtcGetPTX");
	L->cubinSize = (fn_size)dlsym(L->h, "nvrtcGetCUBINSize");
	L->cubin = (fn_get)dlsym(L->h, "nvrtcGetCUBIN");
	L->errstr = (fn_errstr)dlsym(L->h, "nvrtcGetErrorString");
	if (!L->version || !L->create || !L->destroy || !L->compile || !L->logSize ||
	    !L->log || !L->ptxSize || !L->ptx || !L->errstr) {
		dlclose(L->h);
		L->h = 0;
		return 2;
	}
	return 0;
}

static int nvrtc_version(nvrtc_lib* L, int* major, int* minor) { return L->version(major, minor); }
static int nvrtc_create(nvrtc_lib* L, void** p, const char* src, const char* name, int n,
		const char* const* hs, const char* const* hn) { return L->create(p, src, name, n, hs, hn); }
static int nvrtc_destroy(nvrtc_lib* L, void** p) { return L->destroy(p); }
static int nvrtc_compile(nvrtc_lib* L, void* p, int n, const char* const* o) { return L->compile(p, n, o); }
static int nvrtc_log_size(nvrtc_lib* L, void* p, size_t* s) { return L->logSize(p, s); }
static int nvrtc_log(nvrtc_lib* L, void* p, char* b) { return L->log(p, b); }
static int nvrtc_ptx_size(nvrtc_lib* L, void* p, size_t* s) { return L->ptxSize(p, s); }
static int nvrtc_ptx(nvrtc_lib* L, void* p, char* b) { return L->ptx(p, b); }
static int nvrtc_has_cubin(nvrtc_lib* L) { return L->cubinSize != 0 && L->cubin != 0; }
static int nvrtc_cubin_size(nvrtc_lib* L, void* p, size_t* s) { return L->cubinSize(p, s); }
static int nvrtc_cubin(nvrtc_lib* L, void* p, char* b) { return L->cubin(p, b); }
static const char* nvrtc_errstr(nvrtc_lib* L, int r) { return L->errstr(r); }
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Lib is an opened libnvrtc. It is safe for concurrent use: every
// compilation is its own NVRTC program.
type Lib struct {
	l            *C.nvrtc_lib
	name         string
	major, minor int
}

// Load opens the first libnvrtc of LibraryNames that loads.
func Load() (*Lib, error) {
	l := (*C.nvrtc_lib)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nvrtc_lib{}))))
	for _, n := range LibraryNames() {
		cn := C.CString(n)
		rc := C.nvrtc_open(l, cn)
		C.free(unsafe.Pointer(cn))
		if rc != 0 {
			continue
		}
		var ma, mi C.int
		if r := C.nvrtc_version(l, &ma, &mi); r != 0 {
			return nil, fmt.Errorf("nvrtc: %s: nvrtcVersion failed (%d)", n, int(r))
		}
		return &Lib{l: l, name: n, major: int(ma), minor: int(mi)}, nil
	}
	C.free(unsafe.Pointer(l))
	return nil, ErrNotFound
}

// Name is the soname that was opened.
func (lib *Lib) Name() string { return lib.name }

// Version returns NVRTC's major and minor version.
func (lib *Lib) Version() (major, minor int) { return lib.major, lib.minor }

func (lib *Lib) check(r C.int, what string) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("nvrtc: %s: %s", what, C.GoString(C.nvrtc_errstr(lib.l, r)))
}

// Compile compiles src (named name in messages) with the given headers
// (include name → source) and options. The arch option decides the output:
// "--gpu-architecture=compute_XY" gives PTX, "sm_XY" gives CUBIN (and PTX).
// A compile error returns *CompileError with the log.
func (lib *Lib) Compile(name, src string, headers map[string]string, opts []string) (Result, error) {
	var res Result
	var keep []unsafe.Pointer
	defer func() {
		for _, p := range keep {
			C.free(p)
		}
	}()
	cstr := func(s string) *C.char {
		p := C.CString(s)
		keep = append(keep, unsafe.Pointer(p))
		return p
	}
	carr := func(ss []string) **C.char {
		if len(ss) == 0 {
			return nil
		}
		arr := (**C.char)(C.malloc(C.size_t(len(ss)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
		keep = append(keep, unsafe.Pointer(arr))
		sl := unsafe.Slice(arr, len(ss))
		for i, s := range ss {
			sl[i] = cstr(s)
		}
		return arr
	}
	var hsrc, hname []string
	for n, s := range headers {
		hname = append(hname, n)
		hsrc = append(hsrc, s)
	}
	var prog unsafe.Pointer
	r := C.nvrtc_create(lib.l, &prog, cstr(src), cstr(name), C.int(len(hsrc)), carr(hsrc), carr(hname))
	if err := lib.check(r, "create "+name); err != nil {
		return res, err
	}
	defer C.nvrtc_destroy(lib.l, &prog)

	rc := C.nvrtc_compile(lib.l, prog, C.int(len(opts)), carr(opts))
	var n C.size_t
	if C.nvrtc_log_size(lib.l, prog, &n) == 0 && n > 1 {
		buf := make([]byte, int(n))
		if C.nvrtc_log(lib.l, prog, (*C.char)(unsafe.Pointer(&buf[0]))) == 0 {
			res.Log = strings.TrimRight(string(buf), "\x00")
		}
	}
	if rc != 0 {
		arch := ""
		for _, o := range opts {
			if strings.HasPrefix(o, "--gpu-architecture=") || strings.HasPrefix(o, "-arch=") {
				arch = o[strings.Index(o, "=")+1:]
			}
		}
		if res.Log == "" {
			res.Log = C.GoString(C.nvrtc_errstr(lib.l, rc))
		}
		return res, &CompileError{Name: name, Arch: arch, Log: res.Log}
	}
	if C.nvrtc_ptx_size(lib.l, prog, &n) == 0 && n > 0 {
		buf := make([]byte, int(n))
		if err := lib.check(C.nvrtc_ptx(lib.l, prog, (*C.char)(unsafe.Pointer(&buf[0]))), "get PTX"); err != nil {
			return res, err
		}
		res.PTX = buf
	}
	if C.nvrtc_has_cubin(lib.l) != 0 && C.nvrtc_cubin_size(lib.l, prog, &n) == 0 && n > 0 {
		buf := make([]byte, int(n))
		if err := lib.check(C.nvrtc_cubin(lib.l, prog, (*C.char)(unsafe.Pointer(&buf[0]))), "get CUBIN"); err != nil {
			return res, err
		}
		res.CUBIN = buf
	}
	return res, nil
}
