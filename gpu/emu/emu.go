//go:build cudaemu

// Package emu is a CUDA emulator for tests: it runs the engine's unchanged
// kernels (kernels/*.cu) on the CPU. The sources are compiled with the host
// C++ compiler and a prelude that defines the CUDA surface they use, into
// one shared library cached on disk and loaded with dlopen. A launch runs
// the blocks one after another and the threads of a block as cooperatively
// scheduled fibers, in forward or reverse thread order, with exact block
// barriers and warp collectives (shuffles, votes and the mma.m16n8k16
// tensor-core instruction); it fails, naming kernel, block and thread, on
// barrier divergence or deadlock, an oversized block, too much shared
// memory, a pointer parameter outside every allocation or a parameter
// packed with a smaller type than the kernel's. Device memory is host
// memory between guard pages, poisoned with NaN bytes; GemmStridedBatched
// is a reference for cublasGemmStridedBatchedEx. A library runs one launch
// at a time. See docs/emulator.md.
//
// It is a test instrument: it shows kernel and engine logic, launch shapes
// and memory plans, never speed or the GPU's memory model.
//
// Build tag: cudaemu (cgo and a C++ compiler, $CXX or g++).
package emu

import (
	"fmt"
	"maps"
	"sort"
	"sync"
	"unsafe"
)

// Options configure a Device.
type Options struct {
	Reverse  bool   // run each block's threads in reverse order
	CacheDir string // "" = $SIRL_KERNEL_CACHE/emu or os.UserCacheDir()/sirl/emu
	// NoPoison leaves fresh allocations as the allocator returns them
	// instead of filling them with 0xFF bytes (NaN as fp32 and bf16).
	NoPoison bool
}

// DType is a GEMM operand type, with backend.DType's codes.
type DType int

// The GEMM operand types.
const (
	F32  DType = 0
	BF16 DType = 1
)

// Device is an emulated GPU: host memory, loaded kernel libraries and the
// launch counters. Its methods are safe for concurrent use; launches are
// serialised.
type Device struct {
	opt Options

	mu       sync.Mutex
	allocs   map[uintptr]allocation
	bases    []uintptr // sorted keys of allocs
	launches map[string]int
	modules  []*Module
	compiles int // compiler runs (cache misses) by Load
	compiler string
	closed   bool
}

type allocation struct {
	p unsafe.Pointer
	n int64
}

// faultOnce installs the fault handler at the first Open.
var faultOnce sync.Once

// Open creates a device. It checks that the C++ compiler runs.
func Open(opt Options) (*Device, error) {
	ver, err := compilerVersion()
	if err != nil {
		return nil, err
	}
	faultOnce.Do(installFaultHandler)
	return &Device{opt: opt, allocs: map[uintptr]allocation{}, launches: map[string]int{}, compiler: ver}, nil
}

// Close unloads the modules and frees every allocation.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	for _, m := range d.modules {
		m.lib.close()
	}
	d.modules = nil
	for _, a := range d.allocs {
		hostFree(a.p, a.n)
	}
	d.allocs, d.bases = nil, nil
	return nil
}

// Describe names the device, e.g. "emulated CUDA device (CPU, g++ 12.2.0,
// forward thread order)".
func (d *Device) Describe() string {
	order := "forward"
	if d.opt.Reverse {
		order = "reverse"
	}
	return fmt.Sprintf("emulated CUDA device (CPU, %s, %s thread order)", d.compiler, order)
}

// Alloc returns n bytes of host memory aligned to 256 bytes, registered as
// device memory (launch and GEMM pointers are checked against it). The
// bytes end at most 255 bytes before an inaccessible page (and one
// precedes them): a kernel that runs off an allocation faults, naming
// itself on stderr. Unless Options.NoPoison, the bytes are 0xFF.
func (d *Device) Alloc(n int64) (uintptr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("emu: Alloc(%d): size must be positive (CUDA_ERROR_INVALID_VALUE)", n)
	}
	p := hostAlloc(n)
	if p == nil {
		return 0, fmt.Errorf("emu: Alloc(%d): out of host memory (CUDA_ERROR_OUT_OF_MEMORY)", n)
	}
	if !d.opt.NoPoison {
		b := unsafe.Slice((*byte)(p), n)
		for i := range b {
			b[i] = 0xFF
		}
	}
	a := uintptr(p)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		hostFree(p, n)
		return 0, fmt.Errorf("emu: Alloc on a closed device")
	}
	d.allocs[a] = allocation{p: p, n: n}
	i := sort.Search(len(d.bases), func(i int) bool { return d.bases[i] >= a })
	d.bases = append(d.bases, 0)
	copy(d.bases[i+1:], d.bases[i:])
	d.bases[i] = a
	return a, nil
}

// Free releases an allocation made by Alloc (p must be its start).
func (d *Device) Free(p uintptr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.allocs[p]
	if !ok {
		return fmt.Errorf("emu: Free(%#x): not the start of a live allocation (CUDA_ERROR_INVALID_VALUE)", p)
	}
	delete(d.allocs, p)
	i := sort.Search(len(d.bases), func(i int) bool { return d.bases[i] >= p })
	d.bases = append(d.bases[:i], d.bases[i+1:]...)
	hostFree(a.p, a.n)
	return nil
}

// Valid reports whether [p, p+n) lies inside one live allocation (n >= 1;
// n = 0 checks only that p is inside one).
func (d *Device) Valid(p uintptr, n int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.find(p, n)
	return ok
}

// find returns the allocation holding [p, p+max(n,1)). Callers hold d.mu.
func (d *Device) find(p uintptr, n int64) (allocation, bool) {
	n = max(n, 1)
	i := sort.Search(len(d.bases), func(i int) bool { return d.bases[i] > p }) - 1
	if i < 0 {
		return allocation{}, false
	}
	b := d.bases[i]
	a := d.allocs[b]
	if int64(p-b) >= a.n || int64(p-b)+n > a.n {
		return allocation{}, false
	}
	return a, true
}

// hostPtr turns a device address inside an allocation into a Go pointer.
// Callers hold d.mu and have checked p with find.
func (d *Device) hostPtr(p uintptr) unsafe.Pointer {
	i := sort.Search(len(d.bases), func(i int) bool { return d.bases[i] > p }) - 1
	b := d.bases[i]
	return unsafe.Add(d.allocs[b].p, int(p-b))
}

// Launches returns the number of launches of each kernel since Open.
func (d *Device) Launches() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.launches)
}

// Compiles returns how many times Load ran the compiler (cache misses).
func (d *Device) Compiles() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.compiles
}
