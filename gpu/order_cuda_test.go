//go:build cuda && !cudaemu

package gpu_test

import (
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/gpu"
)

// threadOrders: a GPU schedules threads itself.
func threadOrders() []string { return []string{"device"} }

func setThreadOrder(*testing.T, string) {}

// checkCoverage: a GPU keeps no launch counts (the emulated build checks
// that the op table launches every kernel).
func checkCoverage(*testing.T, []*gpu.Engine) {}

// testPlan is small enough for several engines at once on one GPU.
var testPlan = gpu.PoolPlan{
	backend.Weights: 128 << 20, backend.Optim: 128 << 20, backend.Activations: 1 << 30,
	backend.KV: 128 << 20, backend.Replay: 64 << 20, gpu.Scratch: 1 << 30,
}
