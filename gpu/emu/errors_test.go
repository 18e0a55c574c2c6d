//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unsafe"
)

const errSrc = `
extern "C" __global__ void exit_early(float* x) {
  if (threadIdx.x == 5 && blockIdx.x == 1) return;
  __syncthreads();
  x[threadIdx.x] = 1.f;
}
extern "C" __global__ void two_barriers(float* x) {
  if (threadIdx.x < 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
}
extern "C" __global__ void shfl_exit(float* x) {
  if (threadIdx.x == 3) return;
  x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
extern "C" __global__ void shfl_vs_bar(float* x) {
  if (threadIdx.x == 0) __syncthreads();
  else x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
extern "C" __global__ void small_warp(float* x) {
  x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
extern "C" __global__ void __launch_bounds__(64) bounded(float* x) { x[threadIdx.x] = 0.f; }
extern "C" __global__ void plain(float* x, const float* y) { if (threadIdx.x == 0) x[0] = y ? y[0] : 2.f; }
extern "C" __global__ void trap(float* x) { if (blockIdx.y == 1 && threadIdx.x == 7) __trap(); }
extern "C" __global__ void dyn_copy(float* x, int n) {
  extern __shared__ float sm[];
  // reads before any write: the poison
  for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = sm[i];
}
extern "C" __global__ void dyn_over(float* x, int n) {
  extern __shared__ float sm[];
  if (threadIdx.x == 0) sm[n] = 1.f; // one element past the launch size
}
extern "C" __global__ void big_static(float* x) {
  __shared__ float big[13000];
  big[threadIdx.x] = 1.f;
  x[threadIdx.x] = big[threadIdx.x];
}
`

func TestLaunchErrors(t *testing.T) {
	d, m := open(t, false, errSrc)
	x := alloc(t, d, 4096*4)
	k := func(name string) *Kernel {
		k, err := m.Kernel(name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	one := [3]int{1, 1, 1}
	cases := []struct {
		name        string
		grid, block [3]int
		dyn         int
		a           *argv
		want        []string
	}{
		{"exit_early", [3]int{2, 1, 1}, [3]int{64, 1, 1}, 0, args(x),
			[]string{"kernel exit_early block (1,0,0)", "waits at __syncthreads", "thread (5,0,0) exited", "barrier divergence"}},
		{"two_barriers", one, [3]int{64, 1, 1}, 0, args(x),
			[]string{"kernel two_barriers block (0,0,0) thread", "barrier divergence", "t.cu:9", "t.cu:11"}},
		{"shfl_exit", one, [3]int{32, 1, 1}, 0, args(x),
			[]string{"kernel shfl_exit block (0,0,0)", "for lane 3, which exited"}},
		{"shfl_vs_bar", one, [3]int{32, 1, 1}, 0, args(x),
			[]string{"kernel shfl_vs_bar block (0,0,0)", "deadlock", "lane 0, which waits at __syncthreads"}},
		{"small_warp", one, [3]int{16, 1, 1}, 0, args(x),
			[]string{"kernel small_warp block (0,0,0) thread (0,0,0)", "lanes that do not exist"}},
		{"bounded", one, [3]int{65, 1, 1}, 0, args(x),
			[]string{"kernel bounded", "65 threads per block exceed the kernel's limit of 64"}},
		{"plain", one, [3]int{32, 33, 1}, 0, args(x, uintptr(0)),
			[]string{"kernel plain", "1056 threads per block exceed the kernel's limit of 1024"}},
		{"plain", one, [3]int{1, 1, 65}, 0, args(x, uintptr(0)),
			[]string{"kernel plain", "block dimension 2 is 65"}},
		{"plain", one, [3]int{1, 1, 1}, 0, args(x, uintptr(0x1234)),
			[]string{"kernel plain", "pointer parameter 1 (0x1234) is outside every allocation"}},
		{"plain", one, [3]int{1, 1, 1}, 0, args(x, x.addr+uintptr(x.n)),
			[]string{"kernel plain", "pointer parameter 1"}},
		{"trap", [3]int{1, 2, 1}, [3]int{32, 1, 1}, 0, args(x),
			[]string{"kernel trap block (0,1,0) thread (7,0,0)", "__trap()"}},
		{"dyn_copy", one, [3]int{32, 1, 1}, 48<<10 + 4, args(x, 4),
			[]string{"kernel dyn_copy", "49156 bytes of dynamic shared memory exceed the 49152 allowed"}},
		{"dyn_over", [3]int{3, 1, 1}, [3]int{32, 1, 1}, 64, args(x, 16),
			[]string{"kernel dyn_over", "block (0,0,0) wrote dynamic shared memory at byte 64, past its 64 bytes"}},
		{"big_static", one, [3]int{32, 1, 1}, 0, args(x),
			[]string{"kernel big_static block (0,0,0) thread (0,0,0)", "static shared memory 52000 bytes"}},
	}
	for _, c := range cases {
		err := d.Launch(k(c.name), c.grid, c.block, c.dyn, c.a.ptr())
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q\nlacks %q", c.name, err, w)
			}
		}
	}
	// the runtime recovers: a valid launch after the failures works
	if err := d.Launch(k("plain"), one, [3]int{32, 1, 1}, 0, args(x, uintptr(0)).ptr()); err != nil {
		t.Fatal(err)
	}
	if x.f32()[0] != 2 {
		t.Fatalf("x[0] = %v after plain, want 2", x.f32()[0])
	}
	if _, err := m.Kernel("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Kernel(nope): %v", err)
	}
}

// TestPackedSizes: a parameter packed with a smaller type than the kernel
// declares (as the engine packs values one after another) fails the launch.
func TestPackedSizes(t *testing.T) {
	d, m := open(t, false, `extern "C" __global__ void wide(long long* x, long long n, int k) { x[0] = n + k; }`)
	x := alloc(t, d, 8)
	var vals [32]byte
	*(*uintptr)(unsafe.Pointer(&vals[0])) = x.addr
	ptrs := [3]unsafe.Pointer{unsafe.Pointer(&vals[0]), unsafe.Pointer(&vals[8]), unsafe.Pointer(&vals[16])}
	*(*int64)(unsafe.Pointer(&vals[8])) = 1 << 40
	*(*int32)(unsafe.Pointer(&vals[16])) = 3
	k, err := m.Kernel("wide")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Launch(k, [3]int{1, 1, 1}, [3]int{1, 1, 1}, 0, unsafe.Pointer(&ptrs[0])); err != nil {
		t.Fatal(err)
	}
	if got := *(*int64)(unsafe.Pointer(&x.bytes()[0])); got != 1<<40+3 {
		t.Fatalf("x[0] = %d, want %d", got, int64(1<<40+3))
	}
	ptrs[2] = unsafe.Pointer(&vals[12]) // n packed as 4 bytes, k right after it
	err = d.Launch(k, [3]int{1, 1, 1}, [3]int{1, 1, 1}, 0, unsafe.Pointer(&ptrs[0]))
	if err == nil || !strings.Contains(err.Error(), "parameter 1 is 8 bytes, but parameter 2's value starts 4 bytes") {
		t.Fatalf("launch with n packed as int32: %v", err)
	}
	if want := []int{8, 8, 4}; fmt.Sprint(k.ParamSizes()) != fmt.Sprint(want) {
		t.Errorf("ParamSizes() = %v, want %v", k.ParamSizes(), want)
	}
}

func TestDynamicShared(t *testing.T) {
	d, m := open(t, false, errSrc)
	k, err := m.Kernel("dyn_copy")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SetMaxDynamicShared(227<<10 + 1); err == nil || !strings.Contains(err.Error(), "at most 232448") {
		t.Errorf("SetMaxDynamicShared above the cap: %v", err)
	}
	if err := k.SetMaxDynamicShared(100 << 10); err != nil {
		t.Fatal(err)
	}
	n := 100 << 8 // floats in 100 KiB
	x := alloc(t, d, int64(n)*4)
	for i := range x.f32() {
		x.f32()[i] = 0
	}
	if err := d.Launch(k, [3]int{2, 1, 1}, [3]int{128, 1, 1}, n*4, args(x, n).ptr()); err != nil {
		t.Fatal(err)
	}
	for i, v := range x.f32() {
		if !math.IsNaN(float64(v)) {
			t.Fatalf("x[%d] = %v: dynamic shared memory read before any write is not the NaN poison", i, v)
		}
	}
}

func TestPoisonedAlloc(t *testing.T) {
	d, err := Open(Options{CacheDir: testCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := alloc(t, d, 1000)
	if b.addr%256 != 0 {
		t.Errorf("Alloc not 256-byte aligned: %#x", b.addr)
	}
	for i, v := range b.bytes() {
		if v != 0xFF {
			t.Fatalf("byte %d of a fresh allocation is %#x, want the 0xFF poison", i, v)
		}
	}
	if !d.Valid(b.addr+10, 990) || d.Valid(b.addr+10, 991) || d.Valid(b.addr-1, 1) {
		t.Error("Valid does not follow the allocation's bounds")
	}
	if err := d.Free(b.addr + 8); err == nil {
		t.Error("Free of an interior pointer succeeded")
	}
	if err := d.Free(b.addr); err != nil {
		t.Fatal(err)
	}
	if d.Valid(b.addr, 1) {
		t.Error("freed memory still valid")
	}
}
