//go:build cudaemu

package emu

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const oobSrc = `
extern "C" __global__ void oob(float* x, int n) {
  if (blockIdx.x == 1 && threadIdx.x == 5) x[0] = x[n + 64]; // reads past the allocation
}
`

// TestFaultNamesKernel runs a kernel that reads past its allocation in a
// child process: the read hits the guard page and the crash report names
// the kernel, block and thread.
func TestFaultNamesKernel(t *testing.T) {
	if os.Getenv("SIRL_EMU_FAULT_CHILD") == "1" {
		d, m := open(t, false, oobSrc)
		x := alloc(t, d, 1024*4) // one page: no slack before the guard
		err := launch(d, m, "oob", [3]int{2, 1, 1}, [3]int{32, 1, 1}, 0, args(x, 1024))
		t.Fatalf("out-of-bounds read did not fault (launch error %v)", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultNamesKernel$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SIRL_EMU_FAULT_CHILD=1", "SIRL_EMU_TEST_CACHE="+testCache(t))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child passed:\n%s", out)
	}
	for _, w := range []string{"sirl emu: SIGSEGV at address", "in kernel oob block (1,0,0) thread (5,0,0)"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("crash report lacks %q:\n%.3000s", w, out)
		}
	}
}

// TestGoFaultsStillPanic: with the fault handler installed, a nil
// dereference in Go code is still Go's recoverable panic.
func TestGoFaultsStillPanic(t *testing.T) {
	d, err := Open(Options{CacheDir: testCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got any
	func() {
		defer func() { got = recover() }()
		var p *int
		t.Log(*p)
	}()
	if got == nil || !strings.Contains(fmt.Sprint(got), "nil pointer dereference") {
		t.Fatalf("recover() = %v, want the nil pointer dereference panic", got)
	}
}
