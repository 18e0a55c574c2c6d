// Package nvrtc loads NVIDIA's run-time compiler (libnvrtc) with dlopen and
// compiles CUDA C to PTX or CUBIN. It needs no CUDA headers and no CUDA
// library at link time: only libdl. The GPU engine and the kernels' compile
// test both use it.
package nvrtc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned by Load when no libnvrtc can be opened.
var ErrNotFound = errors.New("nvrtc: no libnvrtc found (tried libnvrtc.so.13, .so.12, .so.11.2, .so.11)")

// LibraryNames lists the sonames Load tries, newest first.
func LibraryNames() []string {
	return []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11", "libnvrtc.so"}
}

// Result is the output of one compilation.
type Result struct {
	PTX   []byte // set when compiling for a virtual arch (compute_XY)
	CUBIN []byte // set when compiling for a real arch (sm_XY)
	Log   string // the compiler's log (warnings), also on success
}

// CompileError is a failed compilation with its log.
type CompileError struct {
	Name, Arch string
	Log        string
}

// Error names the program and the arch and carries the compiler's log.
func (e *CompileError) Error() string {
	return fmt.Sprintf("nvrtc: %s for %s failed:\n%s", e.Name, e.Arch, strings.TrimSpace(e.Log))
}

// IncludeDirs returns the directories that hold cuda_bf16.h on this machine,
// in the order given by $SIRL_CUDA_INCLUDE, $CUDA_HOME/include,
// /usr/local/cuda/include and /usr/include; only those that exist, each
// followed by its cccl/ subdirectory where there is one.
func IncludeDirs() []string {
	var cands []string
	if d := os.Getenv("SIRL_CUDA_INCLUDE"); d != "" {
		cands = append(cands, d)
	}
	if d := os.Getenv("CUDA_HOME"); d != "" {
		cands = append(cands, filepath.Join(d, "include"))
	}
	cands = append(cands, "/usr/local/cuda/include", "/usr/include")
	var out []string
	for _, d := range cands {
		if _, err := os.Stat(filepath.Join(d, "cuda_bf16.h")); err == nil {
			out = append(out, d)
			// CUDA 13 keeps the CCCL headers (nv/target, cuda/std) apart.
			if st, err := os.Stat(filepath.Join(d, "cccl")); err == nil && st.IsDir() {
				out = append(out, filepath.Join(d, "cccl"))
			}
		}
	}
	return out
}

// Options builds the usual option list for an arch such as "compute_90"
// or "sm_90a": the arch, C++17, fast compile defaults and -I for every
// directory of IncludeDirs.
func Options(arch string) []string {
	opts := []string{"--gpu-architecture=" + arch, "--std=c++17", "-default-device"}
	for _, d := range IncludeDirs() {
		opts = append(opts, "-I"+d)
	}
	return opts
}
