//go:build cuda

package dist

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// Own typedefs of the few CUDA driver and NCCL entry points used, so the
// build needs neither cuda.h nor nccl.h; both libraries are opened with
// dlopen at run time (libcuda.so.1 from the driver, libnccl.so.2).
typedef int CUresult;
typedef int CUdevice;
typedef void* CUcontext;
typedef unsigned long long CUdeviceptr;
typedef struct { char internal[128]; } sirl_nccl_id;
typedef void* ncclComm_t;

typedef CUresult (*fn_cuInit)(unsigned int);
typedef CUresult (*fn_cuDeviceGetCount)(int*);
typedef CUresult (*fn_cuDeviceGet)(CUdevice*, int);
typedef CUresult (*fn_cuPrimaryCtxRetain)(CUcontext*, CUdevice);
typedef CUresult (*fn_cuPrimaryCtxRelease)(CUdevice);
typedef CUresult (*fn_cuCtxSetCurrent)(CUcontext);
typedef CUresult (*fn_cuCtxSynchronize)(void);
typedef CUresult (*fn_cuMemAlloc)(CUdeviceptr*, size_t);
typedef CUresult (*fn_cuMemFree)(CUdeviceptr);
typedef CUresult (*fn_cuMemcpyHtoD)(CUdeviceptr, const void*, size_t);
typedef CUresult (*fn_cuMemcpyDtoH)(void*, CUdeviceptr, size_t);

typedef int (*fn_ncclGetUniqueId)(sirl_nccl_id*);
typedef int (*fn_ncclCommInitRank)(ncclComm_t*, int, sirl_nccl_id, int);
typedef int (*fn_ncclAllReduce)(const void*, void*, size_t, int, int, ncclComm_t, void*);
typedef int (*fn_ncclBroadcast)(const void*, void*, size_t, int, int, ncclComm_t, void*);
typedef int (*fn_ncclCommDestroy)(ncclComm_t);
typedef int (*fn_ncclCommAbort)(ncclComm_t);
typedef const char* (*fn_ncclGetErrorString)(int);

typedef struct {
	void *cuda, *nccl;
	fn_cuInit cuInit;
	fn_cuDeviceGetCount cuDeviceGetCount;
	fn_cuDeviceGet cuDeviceGet;
	fn_cuPrimaryCtxRetain cuPrimaryCtxRetain;
	fn_cuPrimaryCtxRelease cuPrimaryCtxRelease;
	fn_cuCtxSetCurrent cuCtxSetCurrent;
	fn_cuCtxSynchronize cuCtxSynchronize;
	fn_cuMemAlloc cuMemAlloc;
	fn_cuMemFree cuMemFree;
	fn_cuMemcpyHtoD cuMemcpyHtoD;
	fn_cuMemcpyDtoH cuMemcpyDtoH;
	fn_ncclGetUniqueId getUniqueId;
	fn_ncclCommInitRank commInitRank;
	fn_ncclAllReduce allReduce;
	fn_ncclBroadcast broadcast;
	fn_ncclCommDestroy commDestroy;
	fn_ncclCommAbort commAbort;
	fn_ncclGetErrorString errorString;
	CUdevice dev;
	CUcontext ctx;
	ncclComm_t comm;
	CUdeviceptr buf;
	size_t cap;
} sirl_nccl;

#define SYM(lib, field, name) if (!(n->field = (void*)dlsym(n->lib, name))) return name;

// sirl_nccl_open loads both libraries and resolves every symbol; it returns
// NULL, or the name of what is missing.
static const char* sirl_nccl_open(sirl_nccl* n, const char* nccl_name) {
	memset(n, 0, sizeof *n);
	n->cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!n->cuda) return "libcuda.so.1";
	n->nccl = dlopen(nccl_name, RTLD_NOW | RTLD_LOCAL);
	if (!n->nccl) return nccl_name;
	SYM(cuda, cuInit, "cuInit")
	SYM(cuda, cuDeviceGetCount, "cuDeviceGetCount")
	SYM(cuda, cuDeviceGet, "cuDeviceGet")
	SYM(cuda, cuPrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
	SYM(cuda, cuPrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")
	SYM(cuda, cuCtxSetCurrent, "cuCtxSetCurrent")
	SYM(cuda, cuCtxSynchronize, "cuCtxSynchronize")
	SYM(cuda, cuMemAlloc, "cuMemAlloc_v2")
	SYM(cuda, cuMemFree, "cuMemFree_v2")
	SYM(cuda, cuMemcpyHtoD, "cuMemcpyHtoD_v2")
	SYM(cuda, cuMemcpyDtoH, "cuMemcpyDtoH_v2")
	SYM(nccl, getUniqueId, "ncclGetUniqueId")
	SYM(nccl, commInitRank, "ncclCommInitRank")
	SYM(nccl, allReduce, "ncclAllReduce")
	SYM(nccl, broadcast, "ncclBroadcast")
	SYM(nccl, commDestroy, "ncclCommDestroy")
	SYM(nccl, commAbort, "ncclCommAbort")
	SYM(nccl, errorString, "ncclGetErrorString")
	return NULL;
}

// sirl_nccl_device makes the primary context of device (local rank modulo
// the device count) current on this thread. Returns a CUresult.
static int sirl_nccl_device(sirl_nccl* n, int local) {
	int r = n->cuInit(0), count = 0;
	if (r) return r;
	if ((r = n->cuDeviceGetCount(&count))) return r;
	if (count < 1) return 100; // CUDA_ERROR_NO_DEVICE
	if ((r = n->cuDeviceGet(&n->dev, local % count))) return r;
	if ((r = n->cuPrimaryCtxRetain(&n->ctx, n->dev))) return r;
	return n->cuCtxSetCurrent(n->ctx);
}

static int sirl_nccl_unique_id(sirl_nccl* n, void* id) { return n->getUniqueId((sirl_nccl_id*)id); }

static int sirl_nccl_init(sirl_nccl* n, int size, const void* id, int rank) {
	sirl_nccl_id v;
	memcpy(&v, id, sizeof v);
	int r = n->cuCtxSetCurrent(n->ctx);
	if (r) return -r;
	return n->commInitRank(&n->comm, size, v, rank);
}

// sirl_nccl_stage grows the device staging buffer to bytes. CUresult.
static int sirl_nccl_stage(sirl_nccl* n, size_t bytes) {
	if (bytes <= n->cap) return 0;
	if (n->buf) n->cuMemFree(n->buf);
	n->buf = 0;
	n->cap = 0;
	int r = n->cuMemAlloc(&n->buf, bytes);
	if (!r) n->cap = bytes;
	return r;
}

// sirl_nccl_collective copies host to the device buffer, runs the
// all-reduce (sum; root < 0) or broadcast (from root) on the legacy default
// stream, waits, and copies back. Returns 0, a CUresult as a negative
// number, or an ncclResult_t.
static int sirl_nccl_collective(sirl_nccl* n, void* host, size_t count, int dtype, size_t elem, int root) {
	size_t bytes = count * elem;
	int r = n->cuCtxSetCurrent(n->ctx);
	if (!r) r = sirl_nccl_stage(n, bytes);
	if (!r) r = n->cuMemcpyHtoD(n->buf, host, bytes);
	if (r) return -r;
	void* d = (void*)n->buf;
	r = root < 0 ? n->allReduce(d, d, count, dtype, 0, n->comm, NULL)
	             : n->broadcast(d, d, count, dtype, root, n->comm, NULL);
	if (r) return r;
	if ((r = n->cuCtxSynchronize()) || (r = n->cuMemcpyDtoH(host, n->buf, bytes))) return -r;
	return 0;
}

static const char* sirl_nccl_error(sirl_nccl* n, int r) { return n->errorString(r); }

static void sirl_nccl_close(sirl_nccl* n, int abort) {
	if (n->comm) {
		if (abort) n->commAbort(n->comm); else n->commDestroy(n->comm);
		n->comm = 0;
	}
	if (n->buf) n->cuMemFree(n->buf);
	n->buf = 0;
	if (n->ctx) n->cuPrimaryCtxRelease(n->dev);
	n->ctx = 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// NCCLBuilt reports whether this binary has the NCCL communicator.
const NCCLBuilt = true

// ncclDataType_t values.
const (
	ncclUint8   = 1
	ncclFloat32 = 7
	ncclFloat64 = 8
)

// ncclName is the NCCL soname loaded (SIRL_NCCL overrides it).
const ncclName = "libnccl.so.2"

// ncclComm is the Comm of NCCL over the GPU of the local rank. Host buffers
// go through one device staging buffer: copied in, reduced or broadcast on
// the GPUs, copied out. Calls are serialised and run on a locked OS thread
// with the device's primary context current. Untested on a GPU.
type ncclComm struct {
	mu                sync.Mutex
	n                 *C.sirl_nccl
	rank, size, local int
	boot              Comm // the MPI Comm that carried the unique id, or nil
	closed            bool
}

// openNCCL loads NCCL, gets the unique id (ncclBootstrap: through MPI in
// the mpi build, else NCCL_COMM_ID), picks the local rank's GPU and joins
// the communicator.
func openNCCL(l Launch) (Comm, error) {
	if l.Size < 1 {
		return nil, fmt.Errorf("dist: nccl: launch of %d ranks", l.Size)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &ncclComm{n: (*C.sirl_nccl)(C.calloc(1, C.size_t(unsafe.Sizeof(C.sirl_nccl{})))), rank: l.Rank, size: l.Size, local: l.LocalRank}
	name := ncclName
	if v := os.Getenv("SIRL_NCCL"); v != "" {
		name = v
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if miss := C.sirl_nccl_open(c.n, cname); miss != nil {
		C.free(unsafe.Pointer(c.n))
		return nil, fmt.Errorf("dist: nccl: cannot load %s (install NCCL, or set SIRL_NCCL to its path)", C.GoString(miss))
	}
	var id [128]byte
	boot, err := ncclBootstrap(l, &id, func() error {
		if r := C.sirl_nccl_unique_id(c.n, unsafe.Pointer(&id[0])); r != 0 {
			return c.err("ncclGetUniqueId", r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if boot != nil { // MPI's view of the world is the one NCCL joins
		c.boot, c.rank, c.size, c.local = boot, boot.Rank(), boot.Size(), boot.LocalRank()
	}
	if r := C.sirl_nccl_device(c.n, C.int(c.local)); r != 0 {
		return nil, fmt.Errorf("dist: nccl: CUDA error %d selecting the GPU of local rank %d", int(r), c.local)
	}
	if r := C.sirl_nccl_init(c.n, C.int(c.size), unsafe.Pointer(&id[0]), C.int(c.rank)); r != 0 {
		return nil, c.err("ncclCommInitRank", r)
	}
	return c, nil
}

// err describes a return code of the C helpers: negative for CUDA, else NCCL.
func (c *ncclComm) err(what string, r C.int) error {
	if r < 0 {
		return fmt.Errorf("dist: nccl: %s: CUDA error %d", what, int(-r))
	}
	return fmt.Errorf("dist: nccl: %s: %s (ncclResult %d)", what, C.GoString(C.sirl_nccl_error(c.n, r)), int(r))
}

func (c *ncclComm) Rank() int      { return c.rank }
func (c *ncclComm) Size() int      { return c.size }
func (c *ncclComm) LocalRank() int { return c.local }

// collective runs one staged collective (root < 0: sum all-reduce).
func (c *ncclComm) collective(what string, p unsafe.Pointer, count, elem int, dtype, root int) error {
	if count == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("dist: nccl: %s after Close", what)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if r := C.sirl_nccl_collective(c.n, p, C.size_t(count), C.int(dtype), C.size_t(elem), C.int(root)); r != 0 {
		return c.err(what, r)
	}
	return nil
}

// AllReduceF32 sums buf over the ranks (ncclAllReduce, ncclSum; NCCL's
// ring or tree gives every rank the same bits).
func (c *ncclComm) AllReduceF32(buf []float32) error {
	if len(buf) == 0 {
		return nil
	}
	return c.collective("ncclAllReduce(float32)", unsafe.Pointer(&buf[0]), len(buf), 4, ncclFloat32, -1)
}

// AllReduceF64 sums buf over the ranks.
func (c *ncclComm) AllReduceF64(buf []float64) error {
	if len(buf) == 0 {
		return nil
	}
	return c.collective("ncclAllReduce(float64)", unsafe.Pointer(&buf[0]), len(buf), 8, ncclFloat64, -1)
}

// Broadcast copies root's buf to every rank (ncclBroadcast of bytes).
func (c *ncclComm) Broadcast(buf []byte, root int) error {
	if err := checkRoot(root, c.size); err != nil {
		return err
	}
	if len(buf) == 0 {
		return nil
	}
	return c.collective("ncclBroadcast", unsafe.Pointer(&buf[0]), len(buf), 1, ncclUint8, root)
}

// Barrier is a one-element all-reduce (NCCL has no barrier).
func (c *ncclComm) Barrier() error { return c.AllReduceF32([]float32{0}) }

// Abort aborts the NCCL communicator and ends the job: through MPI_Abort
// when MPI carried the bootstrap, else by exiting with code (torchrun and
// srun then end the other ranks).
func (c *ncclComm) Abort(code int, err error) {
	fmt.Fprintf(os.Stderr, "rank %d/%d: aborting the job: %v\n", c.rank, c.size, err)
	C.sirl_nccl_close(c.n, 1)
	if c.boot != nil {
		c.boot.Abort(code, err)
	}
	os.Exit(code)
}

// Close destroys the communicator, frees the staging buffer and closes the
// bootstrap Comm.
func (c *ncclComm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.sirl_nccl_close(c.n, 0)
	if c.boot != nil {
		return c.boot.Close()
	}
	return nil
}
