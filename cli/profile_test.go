package cli

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCPUProfileFlag: --cpuprofile writes a profile for any subcommand, and
// an unwritable path is an error naming the flag.
func TestCPUProfileFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	root := NewRootCmd()
	root.SetOut(io.Discard)
	root.SetArgs([]string{"tokenize", "--text", "3+4", "--cpuprofile", path})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("profile %s: %v (size %v)", path, err, st)
	}
	root = NewRootCmd()
	root.SetOut(io.Discard)
	root.SetArgs([]string{"tokenize", "--text", "3", "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "p")})
	if err := root.Execute(); err == nil {
		t.Fatal("unwritable --cpuprofile: no error")
	}
}
