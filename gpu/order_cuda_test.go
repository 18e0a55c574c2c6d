//go:build cuda && !cudaemu

package gpu_test

import (
	"testing"

	"github.com/sirl-dev/sirl/gpu"
)

// threadOrders: a GPU schedules threads itself.
func threadOrders() []string { return []string{"device"} }

func setThreadOrder(*testing.T, string) {}

// checkCoverage: a GPU keeps no launch counts (the emulated build checks
// that the op table launches every kernel).
func checkCoverage(*testing.T, []*gpu.Engine) {}
