//go:build cudaemu

package emu

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"
)

// cacheDir is shared by the tests of one run so that each source set is
// compiled once; SIRL_EMU_TEST_CACHE keeps it across runs.
var (
	cacheOnce sync.Once
	cachePath string
)

func testCache(t testing.TB) string {
	cacheOnce.Do(func() {
		if d := os.Getenv("SIRL_EMU_TEST_CACHE"); d != "" {
			cachePath = d
			return
		}
		d, err := os.MkdirTemp("", "sirl-emu-test-")
		if err != nil {
			panic(err)
		}
		cachePath = d
	})
	return cachePath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("SIRL_EMU_TEST_CACHE") == "" && cachePath != "" {
		os.RemoveAll(cachePath)
	}
	os.Exit(code)
}

// open returns a device and the module of one test source (unit "t.cu").
func open(t *testing.T, reverse bool, src string) (*Device, *Module) {
	t.Helper()
	d, err := Open(Options{Reverse: reverse, CacheDir: testCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	m, err := d.Load(map[string]string{"t.cu": src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

// buf is a device allocation viewed from Go.
type buf struct {
	addr uintptr
	n    int64
	d    *Device
}

func alloc(t *testing.T, d *Device, n int64) buf {
	p, err := d.Alloc(n)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return buf{addr: p, n: n, d: d}
}

func (b buf) bytes() []byte {
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	return unsafe.Slice((*byte)(b.d.hostPtr(b.addr)), b.n)
}

func (b buf) f32() []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(&b.bytes()[0])), b.n/4)
}

func (b buf) u32() []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b.bytes()[0])), b.n/4)
}

func (b buf) u16() []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b.bytes()[0])), b.n/2)
}

// argv packs parameter values as the engine does for cuLaunchKernel: an
// array of pointers, each to one value. The values live in C-like memory
// owned by the returned slice of boxes, which the caller keeps alive.
type argv struct {
	vals []unsafe.Pointer
	keep []any
}

func args(vals ...any) *argv {
	a := &argv{}
	for _, v := range vals {
		switch x := v.(type) {
		case buf:
			p := new(uintptr)
			*p = x.addr
			a.keep = append(a.keep, p)
			a.vals = append(a.vals, unsafe.Pointer(p))
		case uintptr:
			p := new(uintptr)
			*p = x
			a.keep = append(a.keep, p)
			a.vals = append(a.vals, unsafe.Pointer(p))
		case int:
			p := new(int32)
			*p = int32(x)
			a.keep = append(a.keep, p)
			a.vals = append(a.vals, unsafe.Pointer(p))
		case int64:
			p := new(int64)
			*p = x
			a.keep = append(a.keep, p)
			a.vals = append(a.vals, unsafe.Pointer(p))
		case float32:
			p := new(float32)
			*p = x
			a.keep = append(a.keep, p)
			a.vals = append(a.vals, unsafe.Pointer(p))
		default:
			panic("args: unsupported type")
		}
	}
	return a
}

func (a *argv) ptr() unsafe.Pointer { return unsafe.Pointer(&a.vals[0]) }

func launch(d *Device, m *Module, name string, grid, block [3]int, dyn int, a *argv) error {
	k, err := m.Kernel(name)
	if err != nil {
		return err
	}
	return d.Launch(k, grid, block, dyn, a.ptr())
}

var _ = filepath.Join
