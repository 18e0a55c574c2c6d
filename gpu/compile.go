//go:build cuda && !cudaemu

package gpu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/sirl-dev/sirl/kernels"
	"github.com/sirl-dev/sirl/kernels/nvrtc"
)

// cacheDir is where compiled kernels are kept: $SIRL_KERNEL_CACHE, else
// os.UserCacheDir()/sirl/kernels, else the temp dir.
func cacheDir() string {
	if d := os.Getenv("SIRL_KERNEL_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sirl", "kernels")
	}
	return filepath.Join(os.TempDir(), "sirl-kernels")
}

// archCandidates lists the NVRTC targets to try for compute capability cc,
// best first: sm_90a (wgmma/TMA) on Hopper, the plain sm_XY, then PTX for
// compute_XY (the driver JIT-compiles it when NVRTC does not know sm_XY).
func archCandidates(cc [2]int) []string {
	sm := fmt.Sprintf("%d%d", cc[0], cc[1])
	var out []string
	if cc[0] == 9 && cc[1] == 0 {
		out = append(out, "sm_90a")
	}
	return append(out, "sm_"+sm, "compute_"+sm, "compute_90")
}

// compileKernels compiles every kernel file for the device, in parallel,
// through the disk cache. It returns file → image (CUBIN, or PTX for a
// compute_ target) and a short description.
func compileKernels(cc [2]int) (map[string][]byte, string, error) {
	lib, err := nvrtc.Load()
	if err != nil {
		return nil, "", fmt.Errorf("gpu: %w", err)
	}
	major, minor := lib.Version()
	srcs, hdrs := kernels.Sources(), kernels.Headers()
	names := kernels.Names()
	var hb strings.Builder
	hnames := make([]string, 0, len(hdrs))
	for n := range hdrs {
		hnames = append(hnames, n)
	}
	sort.Strings(hnames)
	for _, n := range hnames {
		hb.WriteString(n + "\x00" + hdrs[n] + "\x00")
	}
	dir := cacheDir()
	var lastErr error
	for _, arch := range archCandidates(cc) {
		opts := nvrtc.Options(arch)
		images := make(map[string][]byte, len(names))
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make([]error, len(names))
		sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
		hits := 0
		for i, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				img, hit, err := compileCached(lib, dir, n, srcs[n], hb.String(), hdrs, arch, opts, major, minor)
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				images[n] = img
				if hit {
					hits++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if err := firstErr(errs); err != nil {
			lastErr = err
			if isArchError(err) {
				continue // NVRTC does not know this arch: try the next
			}
			return nil, "", err
		}
		info := fmt.Sprintf("%s by NVRTC %d.%d (%d of %d from cache %s)", arch, major, minor, hits, len(names), dir)
		return images, info, nil
	}
	return nil, "", fmt.Errorf("gpu: no NVRTC target works for compute capability %d.%d: %w", cc[0], cc[1], lastErr)
}

// isArchError reports whether a compile failed because the arch option was
// rejected (an older NVRTC than the GPU).
func isArchError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "gpu-architecture") || strings.Contains(s, "-arch")
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// compileCached returns the image of one kernel file from the cache, or
// compiles it and stores it (temp file + rename, so concurrent runs are
// safe). The key is sha256 of the source, the headers, the options, the
// arch and the NVRTC version.
func compileCached(lib *nvrtc.Lib, dir, name, src, hdrKey string, hdrs map[string]string, arch string,
	opts []string, major, minor int) ([]byte, bool, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00nvrtc %d.%d", name, src, hdrKey, strings.Join(opts, " "), major, minor)
	sum := hex.EncodeToString(h.Sum(nil))[:24]
	ext := ".cubin"
	if strings.HasPrefix(arch, "compute_") {
		ext = ".ptx"
	}
	path := filepath.Join(dir, fmt.Sprintf("%s.%s.%s%s", strings.TrimSuffix(name, ".cu"), arch, sum, ext))
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return b, true, nil
	}
	res, err := lib.Compile(name, src, hdrs, opts)
	if err != nil {
		return nil, false, err
	}
	img := res.CUBIN
	if ext == ".ptx" || len(img) == 0 {
		img = res.PTX
	}
	if len(img) == 0 {
		return nil, false, fmt.Errorf("nvrtc: %s for %s produced no image", name, arch)
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		tmp, err := os.CreateTemp(dir, ".tmp-*")
		if err == nil {
			_, werr := tmp.Write(img)
			cerr := tmp.Close()
			if werr == nil && cerr == nil {
				os.Rename(tmp.Name(), path)
			} else {
				os.Remove(tmp.Name())
			}
		}
	}
	return img, false, nil
}
