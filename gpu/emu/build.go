//go:build cudaemu

package emu

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed runtime/*
var runtimeFS embed.FS

// cxxFlags compile every translation unit. No FMA contraction (the kernels
// rely on separately rounded operations), no strict aliasing (they load
// bf16 pairs through unsigned*), no fortified longjmp (fibers switch
// stacks).
var cxxFlags = []string{"-std=c++17", "-O2", "-fPIC", "-ffp-contract=off", "-fno-strict-aliasing",
	"-U_FORTIFY_SOURCE", "-DSIRL_EMU", "-w"}

// buildVersion changes whenever the generated code changes shape.
const buildVersion = "sirl-emu-3"

func compiler() []string {
	if c := strings.Fields(os.Getenv("CXX")); len(c) > 0 {
		return c
	}
	return []string{"g++"}
}

// compilerVersion runs the compiler once: "g++ 12.2.0".
func compilerVersion() (string, error) {
	cxx := compiler()
	out, err := exec.Command(cxx[0], append(cxx[1:], "-dumpfullversion")...).Output()
	if err != nil {
		return "", fmt.Errorf("emu: C++ compiler %q: %w", strings.Join(cxx, " "), err)
	}
	return filepath.Base(cxx[0]) + " " + strings.TrimSpace(string(out)), nil
}

func (d *Device) cacheDir() string {
	if d.opt.CacheDir != "" {
		return d.opt.CacheDir
	}
	if c := os.Getenv("SIRL_KERNEL_CACHE"); c != "" {
		return filepath.Join(c, "emu")
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "sirl", "emu")
	}
	return filepath.Join(os.TempDir(), "sirl-emu")
}

// build returns the path of the library for these sources, compiling it
// when the cache has none. The key hashes the sources, the runtime, the
// flags and the compiler version.
func (d *Device) build(units, headers map[string]string) (string, bool, error) {
	if len(units) == 0 {
		return "", false, fmt.Errorf("emu: Load with no translation units")
	}
	rt := map[string]string{}
	err := fs.WalkDir(runtimeFS, "runtime", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := runtimeFS.ReadFile(p)
		rt[filepath.Base(p)] = string(b)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("emu: runtime files: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", buildVersion, d.compiler, strings.Join(cxxFlags, " "))
	for _, set := range []map[string]string{rt, units, headers} {
		for _, n := range sortedKeys(set) {
			fmt.Fprintf(h, "%s\x00%d\x00%s\x00", n, len(set[n]), set[n])
		}
		h.Write([]byte{1})
	}
	dir := d.cacheDir()
	path := filepath.Join(dir, "kernels-"+hex.EncodeToString(h.Sum(nil))[:24]+".so")
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, true, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("emu: cache dir %s: %w", dir, err)
	}
	// Build folders left by a killed process go after an hour.
	if old, _ := filepath.Glob(filepath.Join(dir, ".build-*")); len(old) > 0 {
		for _, o := range old {
			if st, err := os.Stat(o); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.RemoveAll(o)
			}
		}
	}
	tmp, err := os.MkdirTemp(dir, ".build-*")
	if err != nil {
		return "", false, fmt.Errorf("emu: cache dir %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	if err := compileLib(tmp, rt, units, headers); err != nil {
		return "", false, err
	}
	if err := os.Rename(filepath.Join(tmp, "kernels.so"), path); err != nil {
		return "", false, fmt.Errorf("emu: caching %s: %w", path, err)
	}
	return path, false, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// rtDir is the folder of the runtime's files inside a build directory, apart
// from the sources' own files and headers.
const rtDir = "sirl_emu_rt"

// compileLib writes the transformed sources into tmp, finds each unit's
// kernels, generates their registrations and builds tmp/kernels.so.
func compileLib(tmp string, rt, units, headers map[string]string) error {
	write := func(name, src string) error {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(src), 0o644)
	}
	for n, s := range rt {
		if err := write(filepath.Join(rtDir, n), s); err != nil {
			return fmt.Errorf("emu: writing %s: %w", n, err)
		}
	}
	for _, set := range []map[string]string{headers, units} {
		for n, s := range set {
			t, err := transformShared(s)
			if err != nil {
				return fmt.Errorf("emu: %s: %w", n, err)
			}
			if err := write(n, t); err != nil {
				return fmt.Errorf("emu: writing %s: %w", n, err)
			}
		}
	}
	names := sortedKeys(units)
	var rtUnits []string
	for _, n := range sortedKeys(rt) {
		if strings.HasSuffix(n, ".cc") {
			rtUnits = append(rtUnits, n)
		}
	}
	objs := make([]string, len(names)+len(rtUnits))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, min(runtime.GOMAXPROCS(0), 4)))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			objs[i], errs[i] = compileUnit(tmp, n)
		}()
	}
	for i, n := range rtUnits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			obj := "rt-" + strings.TrimSuffix(n, ".cc") + ".o"
			objs[len(names)+i] = filepath.Join(tmp, obj)
			errs[len(names)+i] = cxx(tmp, "-c", filepath.Join(rtDir, n), "-o", obj)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return cxx(tmp, append([]string{"-shared", "-o", "kernels.so"}, objs...)...)
}

// cxx runs the compiler in dir with the common flags.
func cxx(dir string, args ...string) error {
	c := compiler()
	all := append(append(append(c[1:len(c):len(c)], cxxFlags...), "-I", dir, "-I", filepath.Join(dir, rtDir)), args...)
	cmd := exec.Command(c[0], all...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if len(msg) > 4000 {
			msg = msg[:4000] + "..."
		}
		return fmt.Errorf("emu: %s %s: %w\n%s", c[0], strings.Join(args, " "), err, msg)
	}
	return nil
}

// kernelRe finds kernel definitions in scan-mode preprocessor output, where
// __global__ and __launch_bounds__ survive as markers.
var kernelRe = regexp.MustCompile(`__sirl_global__\s+void\s+(?:__sirl_lb__\s*\(((?:[^()]|\([^()]*\))*)\)\s*)?([A-Za-z_]\w*)\s*\(`)

// compileUnit scans unit n for its kernels, writes the wrapper that
// registers them and compiles it to an object file.
func compileUnit(tmp, n string) (string, error) {
	c := compiler()
	args := append(append(c[1:len(c):len(c)], cxxFlags...), "-DSIRL_EMU_SCAN", "-E", "-P", "-I", tmp,
		"-I", filepath.Join(tmp, rtDir), "-include", filepath.Join(rtDir, "prelude.h"), "-x", "c++", n)
	cmd := exec.Command(c[0], args...)
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pp, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("emu: preprocessing %s: %w\n%s", n, err, stderr.String())
	}
	var w strings.Builder
	fmt.Fprintf(&w, "#include \"%s\"\n#include \"%s/tramp.h\"\n", n, rtDir)
	for _, m := range kernelRe.FindAllSubmatch(pp, -1) {
		bounds := strings.TrimSpace(string(m[1]))
		if bounds == "" {
			bounds = "0"
		} else if i := topLevelComma(bounds); i >= 0 {
			bounds = bounds[:i] // (maxThreads, minBlocks)
		}
		fmt.Fprintf(&w, "SIRL_EMU_KERNEL(%s, (%s))\n", m[2], bounds)
	}
	wrapper := strings.TrimSuffix(n, filepath.Ext(n)) + ".emu.cc"
	if err := os.WriteFile(filepath.Join(tmp, wrapper), []byte(w.String()), 0o644); err != nil {
		return "", fmt.Errorf("emu: writing %s: %w", wrapper, err)
	}
	obj := strings.TrimSuffix(wrapper, ".cc") + ".o"
	if err := cxx(tmp, "-include", filepath.Join(rtDir, "prelude.h"), "-c", wrapper, "-o", obj); err != nil {
		return "", err
	}
	return filepath.Join(tmp, obj), nil
}

func topLevelComma(s string) int {
	depth := 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

var (
	sharedRe = regexp.MustCompile(`(extern\s+)?__shared__\s+([^;{}]*);`)
	identRe  = regexp.MustCompile(`[A-Za-z_]\w*`)
	alignRe  = regexp.MustCompile(`__align__\s*\([^()]*\)`)
)

// transformShared rewrites shared memory declarations for the emulator:
// `extern __shared__ T x[];` becomes a pointer to the block's dynamic
// shared memory, and `__shared__ T x[N];` a static (blocks run one after
// another and a library runs one launch at a time) that the runtime
// poisons the first time a block reaches it.
func transformShared(src string) (string, error) {
	var bad error
	out := sharedRe.ReplaceAllStringFunc(src, func(m string) string {
		sm := sharedRe.FindStringSubmatch(m)
		decl := strings.TrimSpace(alignRe.ReplaceAllString(sm[2], ""))
		parts := splitTopLevel(decl)
		if sm[1] != "" {
			if len(parts) != 1 || !strings.HasSuffix(decl, "[]") {
				bad = fmt.Errorf("unsupported extern __shared__ declaration %q", m)
				return m
			}
			d := strings.TrimSpace(strings.TrimSuffix(decl, "[]"))
			ids := identRe.FindAllStringIndex(d, -1)
			last := ids[len(ids)-1]
			typ, name := strings.TrimSpace(d[:last[0]]), d[last[0]:last[1]]
			return fmt.Sprintf("%s* %s = (%s*)sirl_emu_dyn_smem();", typ, name, typ)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "static %s;", decl)
		for _, p := range parts {
			ids := identRe.FindAllString(stripBrackets(p), -1)
			if len(ids) == 0 {
				bad = fmt.Errorf("cannot find the name in __shared__ declaration %q", m)
				return m
			}
			name := ids[len(ids)-1]
			fmt.Fprintf(&b, " sirl_emu_static_smem(&%s, sizeof(%s));", name, name)
		}
		return b.String()
	})
	return out, bad
}

// splitTopLevel splits a declaration at commas outside brackets.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func stripBrackets(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
