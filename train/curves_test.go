package train

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestRunWritesCurves: a run leaves curves.png, a real PNG, beside
// metrics.jsonl; a bad metrics line is an error naming the file.
func TestRunWritesCurves(t *testing.T) {
	dir := t.TempDir()
	runTiny(t, tinyConfig(), dir, Options{})
	f, err := os.Open(filepath.Join(dir, curvesName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("curves.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("curves.png is %v", b)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"stage\": \"sft\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeCurves(bad, filepath.Join(dir, "x.png"), Summary{}); err == nil {
		t.Error("no error for a bad metrics line")
	}
}
