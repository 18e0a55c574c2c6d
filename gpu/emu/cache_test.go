//go:build cudaemu

package emu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const cacheSrc = `extern "C" __global__ void one(int* x) { x[threadIdx.x] = (int)(threadIdx.x * VALUE); }`

func TestCompileCache(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(cacheSrc, "VALUE", "3", 1)
	d, err := Open(Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// build folders of killed processes: an old one goes, a recent one stays
	old, recent := filepath.Join(dir, ".build-old"), filepath.Join(dir, ".build-recent")
	for _, p := range []string{old, recent} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m1, err := d.Load(map[string]string{"c.cu": src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("stale build folder kept (%v)", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent build folder removed: %v", err)
	}
	os.Remove(recent)
	if m1.FromCache() || d.Compiles() != 1 {
		t.Fatalf("first Load: FromCache %v, compiles %d", m1.FromCache(), d.Compiles())
	}
	// A second device on the same cache: no compiler run, same library.
	d2, err := Open(Options{CacheDir: dir, Reverse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	t.Setenv("CXX", "/nonexistent-compiler") // a compiler run would fail
	m2, err := d2.Load(map[string]string{"c.cu": src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.FromCache() || d2.Compiles() != 0 || m2.Path() != m1.Path() {
		t.Fatalf("second Load: FromCache %v, compiles %d, %s vs %s", m2.FromCache(), d2.Compiles(), m2.Path(), m1.Path())
	}
	x := alloc(t, d2, 32*4)
	if err := launch(d2, m2, "one", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, args(x)); err != nil {
		t.Fatal(err)
	}
	if got := x.u32()[5]; got != 15 {
		t.Fatalf("x[5] = %d, want 15", got)
	}
	// A changed source is a miss (and needs the compiler).
	_, err = d2.Load(map[string]string{"c.cu": strings.Replace(cacheSrc, "VALUE", "4", 1)}, nil)
	if err == nil || !strings.Contains(err.Error(), "nonexistent-compiler") {
		t.Fatalf("changed source: %v, want a compiler run", err)
	}
	ents, _ := os.ReadDir(dir)
	var libs []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".so" {
			libs = append(libs, e.Name())
		}
		if strings.HasPrefix(e.Name(), ".build-") {
			t.Errorf("build directory %s left behind", e.Name())
		}
	}
	if len(libs) != 1 {
		t.Errorf("cache holds %v, want one library", libs)
	}
	if got := d2.Launches()["one"]; got != 1 {
		t.Errorf("Launches()[one] = %d, want 1", got)
	}
	if !strings.Contains(d2.Describe(), "reverse thread order") || !strings.Contains(d2.Describe(), "emulated") {
		t.Errorf("Describe() = %q", d2.Describe())
	}
}
