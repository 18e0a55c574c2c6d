package cpu_test

import (
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/backendtest"
	"github.com/sirl-dev/sirl/backend/cpu"
	"gorgonia.org/tensor"
)

// TestOps runs the shared op table against the CPU engine.
func TestOps(t *testing.T) {
	backendtest.Run(t, func() backend.Backend { return cpu.New(2) })
}

// TestTensorLibraryLoads catches gorgonia.org/tensor's start-up panic on new
// Go versions (go4.org/unsafe/assume-no-moving-gc must stay pinned).
func TestTensorLibraryLoads(t *testing.T) {
	d := tensor.New(tensor.WithShape(2, 3), tensor.Of(tensor.Float32))
	if got := d.Shape(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("shape %v, want (2, 3)", got)
	}
	e := cpu.New(1)
	x := e.Alloc(backend.Weights, backend.F32, 2, 3)
	e.Upload(x, []float32{1, 2, 3, 4, 5, 6})
	dense := x.(*cpu.Tensor).Dense()
	v, err := dense.At(1, 2)
	if err != nil || v.(float32) != 6 {
		t.Fatalf("host tensor At(1, 2) = %v, %v; want 6", v, err)
	}
}
