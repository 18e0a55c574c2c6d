//go:build cuda && cgo

package guard

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>

typedef int (*fn_init)(unsigned int);
typedef int (*fn_count)(int*);

// probe returns 0 with the device count, or a negative code: -1 no
// libcuda, -2 no symbols, or the CUresult of cuInit / cuDeviceGetCount.
static int probe(int* count, char* msg, int n) {
	void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		snprintf(msg, n, "%s", dlerror());
		return -1;
	}
	fn_init init = (fn_init)dlsym(h, "cuInit");
	fn_count cnt = (fn_count)dlsym(h, "cuDeviceGetCount");
	if (!init || !cnt) {
		snprintf(msg, n, "libcuda.so.1 lacks cuInit/cuDeviceGetCount");
		return -2;
	}
	int r = init(0);
	if (r != 0) {
		snprintf(msg, n, "cuInit failed with CUresult %d", r);
		return r;
	}
	r = cnt(count);
	if (r != 0) {
		snprintf(msg, n, "cuDeviceGetCount failed with CUresult %d", r);
		return r;
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

func init() {
	if os.Getenv("SIRL_GUARD") == "off" {
		return
	}
	var count C.int
	var msg [256]C.char
	r := C.probe(&count, &msg[0], C.int(len(msg)))
	switch {
	case r != 0:
		fmt.Fprintf(os.Stderr, "sirl: this binary was built with -tags cuda but CUDA is not usable here (%s); use a binary built without the cuda tag for --device cpu\n",
			C.GoString((*C.char)(unsafe.Pointer(&msg[0]))))
		os.Exit(3)
	case count == 0:
		fmt.Fprintln(os.Stderr, "sirl: this binary was built with -tags cuda but the machine has no CUDA device; use a binary built without the cuda tag for --device cpu")
		os.Exit(3)
	}
}
