//go:build cudaemu

package gpu_test

import (
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/gpu"
)

// threadOrders are the emulator's two orders of running a block's threads:
// a missing barrier or a cross-thread read before write gives a different
// result in one of them.
func threadOrders() []string { return []string{"forward", "reverse"} }

// setThreadOrder selects the order for the engines the test opens next.
func setThreadOrder(t *testing.T, order string) { t.Setenv("SIRL_EMU_ORDER", order) }

// checkCoverage fails listing the kernel entry points that no engine of the
// op table launched.
func checkCoverage(t *testing.T, engines []*gpu.Engine) {
	t.Helper()
	launched := map[string]int{}
	var names []string
	for _, e := range engines {
		n, l, err := gpu.KernelCoverage(e)
		if err != nil {
			t.Fatal(err)
		}
		names = n
		for k, c := range l {
			launched[k] += c
		}
	}
	var never []string
	for _, n := range names {
		if launched[n] == 0 {
			never = append(never, n)
		}
	}
	t.Logf("op table launched %d of %d kernel entry points", len(names)-len(never), len(names))
	if len(names) == 0 {
		t.Fatal("the emulated module lists no kernel entry points")
	}
	if len(never) > 0 {
		t.Errorf("kernels the op table never launched (%d of %d): %s", len(never), len(names), strings.Join(never, ", "))
	}
}

// TestEmulatedDevice: the engine says it is emulated, the name a run's
// summary.json and `train bench` print.
func TestEmulatedDevice(t *testing.T) {
	e := open(t, testPlan)
	if d := e.Device(); !strings.Contains(d, "emulated CUDA (CPU), not a GPU") {
		t.Errorf("Device() = %q: does not say it is emulated", d)
	}
	if !gpu.Available() || !gpu.Emulated() {
		t.Errorf("Available %v, Emulated %v: want both in the cudaemu build", gpu.Available(), gpu.Emulated())
	}
}

// TestEmulatorOrderEnv: an unknown SIRL_EMU_ORDER is refused, naming it.
func TestEmulatorOrderEnv(t *testing.T) {
	t.Setenv("SIRL_EMU_ORDER", "sideways")
	if _, err := gpu.New(testPlan); err == nil || !strings.Contains(err.Error(), "SIRL_EMU_ORDER") {
		t.Fatalf("New with SIRL_EMU_ORDER=sideways: %v, want an error naming it", err)
	}
}

// testPlan is the emulated engines' pools: host memory, poisoned at start,
// so smaller than on a GPU (several engines are open at once).
var testPlan = gpu.PoolPlan{
	backend.Weights: 64 << 20, backend.Optim: 64 << 20, backend.Activations: 256 << 20,
	backend.KV: 64 << 20, backend.Replay: 32 << 20, gpu.Scratch: 256 << 20,
}
