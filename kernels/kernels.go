// Package kernels holds the CUDA C sources of the GPU engine, one op family
// a file with forward and backward side by side, embedded into the binary.
// The engine compiles them at run time with NVRTC for the GPU present.
//
// Every .cu file is a translation unit of its own that includes the shared
// header common.cuh; Headers returns the headers to hand to NVRTC. Kernel
// entry points are extern "C", so their names are the symbols to look up.
package kernels

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.cu *.cuh
var files embed.FS

// Sources returns every kernel source: file name → CUDA C text (the .cu
// translation units and the .cuh headers).
func Sources() map[string]string {
	out := map[string]string{}
	ents, _ := fs.ReadDir(files, ".")
	for _, e := range ents {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			continue
		}
		out[e.Name()] = string(b)
	}
	return out
}

// Names returns the file names of the translation units (the .cu files),
// sorted.
func Names() []string {
	var names []string
	for n := range Sources() {
		if strings.HasSuffix(n, ".cu") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Headers returns the headers (.cuh) that the translation units include,
// include name → source.
func Headers() map[string]string {
	out := map[string]string{}
	for n, s := range Sources() {
		if strings.HasSuffix(n, ".cuh") {
			out[n] = s
		}
	}
	return out
}
