package kernels

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/kernels/nvrtc"
)

// TestNVRTCCompileAll compiles every kernel file with the NVRTC found on this
// machine for compute_90 (PTX) and sm_90 (CUBIN, through ptxas); no GPU is
// needed. Without NVRTC it skips, except
// under CI=true, where NVRTC is installed and its absence is a failure.
func TestNVRTCCompileAll(t *testing.T) {
	lib, err := nvrtc.Load()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but NVRTC is not loadable (run scripts/setup-cuda.sh): %v", err)
		}
		t.Skipf("NVRTC not found, kernels not compiled (run scripts/setup-cuda.sh): %v", err)
	}
	major, minor := lib.Version()
	t.Logf("%s, NVRTC %d.%d, include dirs %v", lib.Name(), major, minor, nvrtc.IncludeDirs())
	if len(nvrtc.IncludeDirs()) == 0 {
		t.Fatal("cuda_bf16.h not found in any include dir (set SIRL_CUDA_INCLUDE or run scripts/setup-cuda.sh)")
	}
	names := Names()
	if len(names) == 0 {
		t.Fatal("no kernel sources embedded")
	}
	srcs, hdrs := Sources(), Headers()
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".cu"), func(t *testing.T) {
			res, err := lib.Compile(name, srcs[name], hdrs, nvrtc.Options("compute_90"))
			var ce *nvrtc.CompileError
			if errors.As(err, &ce) {
				t.Fatalf("%v", ce)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.PTX) == 0 {
				t.Fatalf("%s: empty PTX", name)
			}
			// The tensor-core path compiles the real instruction for the GPU
			// (the emulator's SIRL_EMU guard in common.cuh must not take it).
			if name == "attention.cu" && !strings.Contains(string(res.PTX), "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32") {
				t.Fatalf("%s: no mma.sync.aligned.m16n8k16 in the compute_90 PTX", name)
			}
			// sm_90 CUBIN as well: runs ptxas, which checks registers,
			// shared memory and the inline PTX (mma.sync) for real.
			cub, err := lib.Compile(name, srcs[name], hdrs, nvrtc.Options("sm_90"))
			if err != nil {
				t.Fatalf("sm_90 CUBIN: %v", err)
			}
			if len(cub.CUBIN) == 0 {
				t.Fatalf("%s: empty sm_90 CUBIN", name)
			}
			if strings.Contains(res.Log, "warning") {
				t.Logf("%s warnings:\n%s", name, res.Log)
			}
			t.Logf("%s: %d bytes of PTX, %d bytes of sm_90 CUBIN", name, len(res.PTX), len(cub.CUBIN))
		})
	}
}

// TestSourcesComplete checks that the op families of DESIGN.md §3 each have
// their file, so that a missing embed shows here and not on the GPU machine.
func TestSourcesComplete(t *testing.T) {
	srcs := Sources()
	for _, want := range []string{"common.cuh", "embedding.cu", "rmsnorm.cu", "rope.cu", "swiglu.cu",
		"residual.cu", "attention.cu", "decode_attention.cu", "sampling.cu", "pg_loss.cu",
		"adamw.cu", "reduce.cu", "matmul.cu"} {
		s, ok := srcs[want]
		if !ok {
			t.Errorf("missing %s", want)
			continue
		}
		if strings.HasSuffix(want, ".cu") && !strings.Contains(s, `extern "C" __global__`) {
			t.Errorf("%s has no extern \"C\" kernel", want)
		}
	}
}
