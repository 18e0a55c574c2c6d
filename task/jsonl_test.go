package task

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/tokenizer"
)

// writeFile writes text to name in a test directory and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodJSONL = `{"prompt": "2+3", "solution": "2+3=5;#5", "answer": "5"}

{"prompt": "12*2", "solution": "2*2=4;10*2=20;4+20=24;# 24", "answer": 24, "id": 7}
{"prompt": "7-1", "solution": "7-1=6;#6", "answer": " 6 "}
`

func TestLoadJSONL(t *testing.T) {
	path := writeFile(t, "train.jsonl", goodJSONL)
	ps, err := LoadJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[1].Answer != "24" || ps[2].Prompt != "7-1" {
		t.Fatalf("loaded %+v", ps)
	}
	if src, ok := ps[1].Data.(jsonlSource); !ok || src.Line != 3 || src.File != path {
		t.Errorf("problem 1 source %+v, want line 3", ps[1].Data)
	}
}

func TestLoadJSONLErrors(t *testing.T) {
	ok := `{"prompt": "1+1", "solution": "1+1=2;#2", "answer": "2"}` + "\n"
	cases := []struct {
		name, line, want string
	}{
		{"invalid JSON", `{"prompt": "1+1", `, "invalid JSON"},
		{"missing solution", `{"prompt": "1+1", "answer": "2"}`, `missing field "solution"`},
		{"missing answer", `{"prompt": "1+1", "solution": "1+1=2;#2"}`, `missing field "answer"`},
		{"null prompt", `{"prompt": null, "solution": "1+1=2;#2", "answer": "2"}`, `missing field "prompt"`},
		{"empty prompt", `{"prompt": "  ", "solution": "1+1=2;#2", "answer": "2"}`, "empty prompt"},
		{"answer differs", `{"prompt": "1+1", "solution": "1+1=2;#3", "answer": "2"}`, "differs"},
		{"no marker", `{"prompt": "1+1", "solution": "1+1=2", "answer": "2"}`, "not of the form"},
		{"no steps", `{"prompt": "1+1", "solution": "#2", "answer": "2"}`, "not of the form"},
		{"prompt not string", `{"prompt": 3, "solution": "1+1=2;#2", "answer": "2"}`, `field "prompt" is not a string`},
		{"not an object", `[1, 2]`, "invalid JSON"},
	}
	for _, c := range cases {
		path := writeFile(t, "data.jsonl", ok+ok+c.line+"\n"+ok)
		_, err := LoadJSONL(path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, path+":3: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want %s:3: ... %s", c.name, msg, path, c.want)
		}
	}
	if _, err := LoadJSONL(writeFile(t, "empty.jsonl", "\n\n")); err == nil || !strings.Contains(err.Error(), "no problems") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := LoadJSONL(filepath.Join(t.TempDir(), "missing.jsonl")); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: %v", err)
	}
}

func TestJSONLTask(t *testing.T) {
	train := writeFile(t, "train.jsonl", goodJSONL)
	tk, err := New("jsonl", Options{Train: train})
	if err != nil {
		t.Fatal(err)
	}
	j := tk.(*JSONL)
	rng := rand.New(rand.NewPCG(11, 11))
	seen := map[string]bool{}
	for range 100 {
		p := j.Generate(rng, 99)
		seen[p.Prompt] = true
		if j.Reward(p, p.Solution) != 1 || !j.WellFormed(p, p.Solution) || j.FirstWrongStep(p, p.Solution) != -1 {
			t.Fatalf("%q: reference solution %q rejected", p.Prompt, p.Solution)
		}
		steps := BodySteps(p.Solution)
		for k := range steps {
			bad, ok := j.InjectError(rng, p, k)
			if !ok || bad == p.Solution || !j.WellFormed(p, bad) || j.FirstWrongStep(p, bad) != k {
				t.Fatalf("%q: InjectError(k=%d) = %q, %v (first wrong %d)", p.Prompt, k, bad, ok, j.FirstWrongStep(p, bad))
			}
		}
		if _, ok := j.InjectError(rng, p, len(steps)); ok {
			t.Fatal("InjectError out of range succeeded")
		}
	}
	if len(seen) != 3 {
		t.Errorf("Generate drew %d distinct problems of 3", len(seen))
	}
	p := j.TrainProblems()[2] // answer " 6 "
	for resp, want := range map[string]float64{"7-1=6;#6": 1, "x;# 6  ": 1, "7-1=6;#7": 0, "7-1=6": 0, "#6": 1} {
		if r := j.Reward(p, resp); r != want {
			t.Errorf("Reward(%q) = %v, want %v", resp, r, want)
		}
	}
	if j.WellFormed(p, "#6") || j.WellFormed(p, "a;#6;b") || j.WellFormed(p, "a;;#6") {
		t.Error("WellFormed accepts a malformed trace")
	}
	if _, ok := j.InjectError(rng, Problem{Solution: "abc;#x"}, 0); ok {
		t.Error("InjectError on a step without digits succeeded")
	}
}

func TestCheckEncodable(t *testing.T) {
	path := writeFile(t, "d.jsonl", goodJSONL+`{"prompt": "Hello", "solution": "h;#1", "answer": "1"}`+"\n")
	ps, err := LoadJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenizer.NewChar()
	if err := CheckEncodable(ps[:3], tok.EncodeChecked); err != nil {
		t.Errorf("good problems: %v", err)
	}
	err = CheckEncodable(ps, tok.EncodeChecked)
	if err == nil || !strings.Contains(err.Error(), path+":5: prompt") || !strings.Contains(err.Error(), `'H'`) {
		t.Errorf("error %v, want %s:5 naming 'H'", err, path)
	}
}
