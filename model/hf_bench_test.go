package model

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirl-dev/sirl/backend/cpu"
)

// qwen05B is the Qwen2.5-0.5B shape (tied, q/k/v biases), in bf16.
func qwen05B() hfSpec {
	return hfSpec{name: "qwen2.5-0.5b-shape", arch: ArchQwen2, vocab: 151936, dim: 896, layers: 24, heads: 14, kv: 2,
		ffn: 4864, maxPos: 32768, theta: 1e6, eps: 1e-6, tied: true, dtype: "BF16"}
}

// writeHFRandom writes a folder of shape s with uniform random weights in
// (−0.05, 0.05), streaming one tensor at a time (norm weights 1), and
// returns the weights file size.
func writeHFRandom(b *testing.B, dir string, s hfSpec) int64 {
	b.Helper()
	cj, err := json.Marshal(hfConfigMap(s))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, HFConfigFile), cj, 0o644); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var specs []tensorSpec
	for _, ps := range s.config().paramShapes() {
		fill := func(dst []float32) {
			for i := range dst {
				dst[i] = 0.1 * (rng.Float32() - 0.5)
			}
		}
		if strings.HasSuffix(ps.name, "norm.weight") {
			fill = func(dst []float32) { fill32(dst, 1) }
		}
		specs = append(specs, tensorSpec{Name: ps.name, Shape: ps.shape, Fill: fill})
	}
	path := filepath.Join(dir, HFWeightsFile)
	if err := writeSafetensorsAs(path, specs, map[string]string{"format": "pt"}, s.dtype); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

func fill32(dst []float32, v float32) {
	for i := range dst {
		dst[i] = v
	}
}

// config is the model Config s describes.
func (s hfSpec) config() Config {
	return Config{Vocab: s.vocab, Dim: s.dim, Layers: s.layers, Heads: s.heads, KVHeads: s.kv, FFN: s.ffn,
		MaxSeq: s.maxPos, RopeTheta: float32(s.theta), NormEps: float32(s.eps), TiedEmbeddings: s.tied, QKVBias: s.bias()}
}

// procStatusKB reads a "Name: N kB" line of /proc/self/status (0 when not
// on Linux).
func procStatusKB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkLoadHF05B times LoadHF of a Qwen2.5-0.5B-shaped bf16 folder
// (written once, untimed) on the CPU engine, and reports the load seconds,
// the peak resident set during the load (VmHWM, reset before it on Linux),
// and the Go heap in use after it. Needs about 4 GB of free memory: the fp32
// weights (2 GB), the file (0.9 GB) and one decode buffer; LoadHF allocates
// no gradients or AdamW moments (those would add 6 GB).
func BenchmarkLoadHF05B(b *testing.B) {
	if testing.Short() {
		b.Skip("large: 0.5B parameters")
	}
	if avail := meminfoKB("MemAvailable"); avail > 0 && avail < 6<<20 {
		b.Skipf("needs about 6 GB of available memory, have %.1f GB", float64(avail)/(1<<20))
	}
	dir := b.TempDir()
	size := writeHFRandom(b, dir, qwen05B())
	b.SetBytes(size)
	b.ResetTimer()
	var secs, cpuSecs float64
	var peakRSS, heap, sys int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM (best effort)
		b.StartTimer()
		t0, c0 := time.Now(), procCPUSeconds()
		m, _, err := LoadHF(cpu.New(2), dir)
		if err != nil {
			b.Fatal(err)
		}
		secs += time.Since(t0).Seconds()
		cpuSecs += procCPUSeconds() - c0
		b.StopTimer()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakRSS = max(peakRSS, procStatusKB("VmHWM")<<10)
		heap, sys = max(heap, int64(ms.HeapAlloc)), max(sys, int64(ms.Sys))
		if m.Cfg.NumParams() != 494032768 {
			b.Fatalf("%d parameters, want 494032768 (Qwen2.5-0.5B)", m.Cfg.NumParams())
		}
		m = nil
		b.StartTimer()
	}
	b.ReportMetric(secs/float64(b.N), "load_s/op")
	b.ReportMetric(cpuSecs/float64(b.N), "cpu_s/op")
	b.ReportMetric(float64(peakRSS)/(1<<30), "peak_rss_GB")
	b.ReportMetric(float64(heap)/(1<<30), "heap_alloc_GB")
	b.ReportMetric(float64(sys)/(1<<30), "go_sys_GB")
	b.ReportMetric(float64(size)/(1<<30), "file_GB")
}

// procCPUSeconds is the process's user+system CPU time from /proc/self/stat
// (at the usual 100 ticks a second; 0 when not on Linux): unlike wall time
// it does not grow when other processes share the cores.
func procCPUSeconds() float64 {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // fields from 3 on
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// meminfoKB reads a /proc/meminfo field in kB (0 when not on Linux).
func meminfoKB(key string) int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}
