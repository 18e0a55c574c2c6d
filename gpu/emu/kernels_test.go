//go:build cudaemu

package emu

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sirl-dev/sirl/kernels"
)

// entryPoints finds every extern "C" __global__ kernel of the sources by a
// textual scan independent of the emulator's: literal definitions, plus the
// definitions inside a macro body once per invocation of the macro, with
// the ## parameter substituted.
func entryPoints(srcs map[string]string) []string {
	lit := regexp.MustCompile(`extern "C" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(`)
	inMacro := regexp.MustCompile(`extern "C" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)##(\w+)\(`)
	def := regexp.MustCompile(`(?m)^#define (\w+)\((\w+)\)((?:.*\\\n)*.*)`)
	var out []string
	for _, s := range srcs {
		body := s
		for _, d := range def.FindAllStringSubmatch(s, -1) {
			body = strings.Replace(body, d[0], "", 1)
			names := inMacro.FindAllStringSubmatch(d[3], -1)
			inv := regexp.MustCompile(`(?m)^` + d[1] + `\((\w+)\)`)
			for _, a := range inv.FindAllStringSubmatch(s, -1) {
				for _, n := range names {
					out = append(out, n[1]+a[1])
				}
			}
		}
		for _, m := range lit.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

func TestAllKernelsCompile(t *testing.T) {
	start := time.Now()
	d, m := loadKernels(t, false)
	t.Logf("loaded in %v (from cache: %v)", time.Since(start).Round(time.Millisecond), m.FromCache())
	want := entryPoints(kernels.Sources())
	if len(want) < 30 {
		t.Fatalf("independent scan found only %d entry points: %v", len(want), want)
	}
	got := m.Names()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Names() = %v\nscan     = %v", got, want)
	}
	for _, n := range []string{"attn_fwd_bf16_d64", "attn_bwd_dkv_bf16_d128", "sample"} {
		k, err := m.Kernel(n)
		if err != nil {
			t.Fatal(err)
		}
		wantB := map[string]int{"attn_fwd_bf16_d64": 128, "attn_bwd_dkv_bf16_d128": 128, "sample": 1024}[n]
		if k.MaxThreads() != wantB {
			t.Errorf("%s MaxThreads = %d, want %d", n, k.MaxThreads(), wantB)
		}
	}
	t.Logf("%d kernels; %s", len(got), d.Describe())
}
