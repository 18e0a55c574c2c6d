package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
)

// TestSampleIDsWithoutTokenizer: `train sample --model DIR --ids ...` works
// on a Hugging Face folder without tokenizer.json (ids out, no text), while
// --prompt there still needs the tokenizer and says so.
func TestSampleIDsWithoutTokenizer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	cfg := model.Config{Vocab: 50, Dim: 16, Layers: 1, Heads: 2, KVHeads: 1, FFN: 32, MaxSeq: 64,
		RopeTheta: 10000, NormEps: 1e-6, QKVBias: true, InitStd: 0.3}
	m, err := model.New(cpu.New(1), cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SaveHF(dir, model.ArchQwen2, "float32"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := NewRootCmd()
		var out, errb bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		cmd.SetArgs(append([]string{"sample", "--model", dir, "--device", "cpu", "--threads", "1"}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--ids", "1,2,3", "--max-new", "5", "--greedy", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	ids, ok := res["ids"].([]any)
	if !ok || len(ids) == 0 || len(ids) > 5 {
		t.Errorf("ids %v, want 1 to 5 generated ids", res["ids"])
	}
	if _, hasText := res["text"]; hasText {
		t.Errorf("text %v without a tokenizer", res["text"])
	}
	if out, err := run("--ids", "1,2,3", "--max-new", "3", "--greedy"); err != nil || !strings.HasPrefix(out, "[") {
		t.Errorf("plain output %q, %v; want the ids", out, err)
	}
	if _, err := run("--prompt", "hi"); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("--prompt without tokenizer.json: error %v, want one naming tokenizer.json", err)
	}
}
