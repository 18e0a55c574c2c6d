//go:build cudaemu

package emu

import "testing"

const benchSrc = `
extern "C" __global__ void empty(float* x) {}
extern "C" __global__ void bar(float* x) {
  __shared__ float sh[256];
  sh[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  x[threadIdx.x] = sh[255 - threadIdx.x] + __shfl_xor_sync(0xffffffffu, sh[threadIdx.x], 1);
}
`

// BenchmarkLaunch measures the emulator's fixed costs: a launch of one
// block of 32 threads that do nothing, and one 256-thread block with a
// barrier and a shuffle (per launch: 512 fiber switches at the barrier and
// 512 at the shuffle).
func BenchmarkLaunch(b *testing.B) {
	for _, c := range []struct {
		name    string
		threads int
	}{{"empty", 32}, {"bar", 256}} {
		b.Run(c.name, func(b *testing.B) {
			d, err := Open(Options{CacheDir: testCache(nil)})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			m, err := d.Load(map[string]string{"b.cu": benchSrc}, nil)
			if err != nil {
				b.Fatal(err)
			}
			k, err := m.Kernel(c.name)
			if err != nil {
				b.Fatal(err)
			}
			x := alloc(nil, d, 256*4)
			a := args(x)
			b.ResetTimer()
			for b.Loop() {
				if err := d.Launch(k, [3]int{1, 1, 1}, [3]int{c.threads, 1, 1}, 0, a.ptr()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
