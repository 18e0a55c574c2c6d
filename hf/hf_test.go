package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
)

// TestEOSIDs: eos_token_id as null, a number or a list; anything else is
// an error.
func TestEOSIDs(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    []int32
		wantErr bool
	}{
		{"", nil, false}, {"null", nil, false}, {"7", []int32{7}, false},
		{"[1, 2]", []int32{1, 2}, false}, {`"x"`, nil, true},
	} {
		got, err := eosIDs(json.RawMessage(tc.raw))
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("eosIDs(%q) = %v, %v; want %v (error %v)", tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestGenerationEOSAndDtype: generation_config.json's ids, none without
// the file; the export dtype falls back to float32.
func TestGenerationEOSAndDtype(t *testing.T) {
	dir := t.TempDir()
	if ids, err := generationEOS(dir); ids != nil || err != nil {
		t.Errorf("no file: %v, %v", ids, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": [5, 9]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if ids, err := generationEOS(dir); err != nil || !reflect.DeepEqual(ids, []int32{5, 9}) {
		t.Errorf("got %v, %v; want [5 9]", ids, err)
	}
	for in, want := range map[string]string{"bfloat16": "bfloat16", "float16": "float16", "int8": "float32", "": "float32"} {
		if got := exportDtype(in); got != want {
			t.Errorf("exportDtype(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoadSamplerNeedsASource: neither --checkpoint nor --model is an
// error naming both.
func TestLoadSamplerNeedsASource(t *testing.T) {
	_, err := LoadSampler(cpu.New(1), SamplerSource{})
	if err == nil || !strings.Contains(err.Error(), "--checkpoint") || !strings.Contains(err.Error(), "--model") {
		t.Errorf("error %v, want one naming --checkpoint and --model", err)
	}
}
