package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/hf"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/task"
	"github.com/sirl-dev/sirl/tokenizer"
)

// The tiny byte-level BPE tokenizer of these tests: ids 0..255 are the
// bytes, then the merges in order, then the three chat specials.
var tinyBPEMerges = []string{"Ġ t", "i s", "o x", "b ox", "Ċ Ċ"}

const (
	tinyImStart = 256 + 5 // <|im_start|>
	tinyImEnd   = 257 + 5 // <|im_end|>
	tinyEOT     = 258 + 5 // <|endoftext|>
	tinyTokVoc  = 259 + 5 // tokenizer vocabulary size
)

// byteAlphabet is GPT-2's bytes_to_unicode: the rune standing for each byte.
func byteAlphabet() [256]rune {
	var out [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			out[b] = rune(b)
		} else {
			out[b] = rune(256 + n)
			n++
		}
	}
	return out
}

// writeTinyTokenizer writes tokenizer.json (Qwen2 pre-tokenizer) and a
// tokenizer_config.json with a chat template into dir.
func writeTinyTokenizer(t *testing.T, dir string) {
	t.Helper()
	vocab := map[string]int{}
	for b, r := range byteAlphabet() {
		vocab[string(r)] = b
	}
	for i, m := range tinyBPEMerges {
		vocab[strings.ReplaceAll(m, " ", "")] = 256 + i
	}
	var added []map[string]any
	for i, c := range []string{"<|im_start|>", "<|im_end|>", "<|endoftext|>"} {
		added = append(added, map[string]any{"id": tinyImStart + i, "content": c, "special": true})
	}
	doc := map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": tokenizer.PatternQwen2}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
		}},
		"decoder": map[string]any{"type": "ByteLevel"},
		"model":   map[string]any{"type": "BPE", "vocab": vocab, "merges": tinyBPEMerges},
	}
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), doc)
	writeJSON(t, filepath.Join(dir, "tokenizer_config.json"), map[string]any{
		"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "bos_token": nil,
		"chat_template": "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}",
	})
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTinyQwen2 writes a random Qwen2 folder with the tiny tokenizer; the
// model's vocabulary is vocab (larger than the tokenizer's is padding, as
// in real Qwen checkpoints).
func writeTinyQwen2(t *testing.T, dir string, vocab int) {
	t.Helper()
	cfg := model.Config{Vocab: vocab, Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFN: 64, MaxSeq: 256,
		RopeTheta: 10000, NormEps: 1e-6, QKVBias: true, InitStd: 0.3}
	m, err := model.New(cpu.New(2), cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SaveHF(dir, model.ArchQwen2, "float32"); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "generation_config.json"), map[string]any{"eos_token_id": []int{tinyEOT, tinyImEnd}})
	writeTinyTokenizer(t, dir)
}

// writeMathData writes n GSM8K-style rows (question, worked answer).
func writeMathData(t *testing.T, path string, n, seed int) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		x, y := seed+i, 2*i+1
		row := map[string]any{"question": fmt.Sprintf("What is %d+%d?", x, y),
			"answer": fmt.Sprintf("%d+%d=%d\n#### %d", x, y, x+y, x+y)}
		line, _ := json.Marshal(row)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hfFixture is a tiny model folder and math data.
type hfFixture struct{ model, train, test string }

func newHFFixture(t *testing.T) hfFixture {
	t.Helper()
	root := t.TempDir()
	f := hfFixture{model: filepath.Join(root, "qwen"), train: filepath.Join(root, "train.jsonl"), test: filepath.Join(root, "test.jsonl")}
	writeTinyQwen2(t, f.model, tinyTokVoc+8)
	writeMathData(t, f.train, 12, 10)
	writeMathData(t, f.test, 4, 50)
	return f
}

// mathConfig is a seconds-long math run.
func mathConfig(f hfFixture) Config {
	c := Defaults()
	c.Name = "math"
	c.Task.Name, c.Task.TrainFile, c.Task.TestFile = "math", f.train, f.test
	c.Task.HeldOut, c.Task.Hard, c.Task.MaxResponseLen = 4, 0, 12
	c.SFT.Steps, c.SFT.BatchSize, c.SFT.EvalEvery = 2, 4, 0
	c.RL.Algo, c.RL.Steps, c.RL.PromptsPerStep, c.RL.NumGenerations = "sirl", 2, 2, 4
	c.Eval.Samples = 2
	return c
}

func TestHFMathRun(t *testing.T) {
	f := newHFFixture(t)
	out := t.TempDir()
	sum, err := Run(context.Background(), cpu.New(2), mathConfig(f), Options{Out: out, ModelDir: f.model})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"device", "wall_seconds", "eval.greedy_accuracy", "eval.n", "eval.avg_at_k", "eval.pass_at_k",
		"sft.eval.greedy_accuracy", "rl.eval.greedy_accuracy"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if sum["eval.n"] != 4 {
		t.Errorf("eval.n = %v, want the 4 test rows", sum["eval.n"])
	}
	for _, p := range []string{"summary.json", "final.safetensors", "hf/config.json", "hf/model.safetensors", "hf/tokenizer.json", "hf/tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("run folder lacks %s", p)
		}
	}
	// The export is the final model: same weights, bitwise (float32).
	hf, _, err := model.LoadHF(cpu.New(2), filepath.Join(out, "hf"))
	if err != nil {
		t.Fatal(err)
	}
	fin, _, err := model.LoadCheckpoint(cpu.New(2), filepath.Join(out, "final.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range fin.Params {
		a, b := make([]float32, p.W.Len()), make([]float32, p.W.Len())
		fin.B.Download(p.W, a)
		hf.B.Download(hf.Param(p.Name).W, b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("exported %s differs from the final checkpoint", p.Name)
		}
	}
	// The checkpoint names its tokenizer: eval from it needs no --model.
	c := mathConfig(f)
	c.Stages = []string{"eval"}
	sum2, err := Run(context.Background(), cpu.New(2), c, Options{Out: t.TempDir(), Checkpoint: filepath.Join(out, "final.safetensors")})
	if err != nil {
		t.Fatal(err)
	}
	if sum2["eval.greedy_accuracy"] != sum["eval.greedy_accuracy"] {
		t.Errorf("eval from the checkpoint %v, run's final %v", sum2["eval.greedy_accuracy"], sum["eval.greedy_accuracy"])
	}
}

func TestHFContextsUseChatTemplate(t *testing.T) {
	f := newHFFixture(t)
	e := &env{ctx: context.Background(), cfg: mathConfig(f), be: cpu.New(2), state: &runState{Summary: Summary{}, Extra: map[string]string{}}}
	if err := e.setup("", f.model, false); err != nil {
		t.Fatal(err)
	}
	if e.eos != tinyImEnd || e.form.chat.Name != "chatml" {
		t.Fatalf("eos %d template %q, want <|im_end|> (%d) and chatml (the folder has a chat_template)", e.eos, e.form.chat.Name, tinyImEnd)
	}
	p := e.splits.HeldOut[0]
	q := p.Data.(task.MathItem).Messages[0].Content
	wantPrompt := "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n"
	s := e.sftSeq(p)
	if got := e.tok.Decode(s.Context); got != wantPrompt {
		t.Errorf("policy context %q, want %q", got, wantPrompt)
	}
	if s.Context[0] != tinyImStart || s.Response[len(s.Response)-1] != tinyImEnd {
		t.Errorf("context starts with %d, response ends with %d: want the special ids", s.Context[0], s.Response[len(s.Response)-1])
	}
	if got := e.tok.Decode(s.Response[:len(s.Response)-1]); got != p.Solution {
		t.Errorf("response %q, want the solution %q", got, p.Solution)
	}
	rc := e.tok.Decode(e.repairContext(p, "1\n#### 2", "1\n#### 3"))
	want := "<|im_start|>user\n" + BPERepairMessage(q, "1\n#### 2", "1\n#### 3") + "<|im_end|>\n<|im_start|>assistant\n"
	if rc != want {
		t.Errorf("repair context %q, want %q", rc, want)
	}
	// The step layout of a BPE response follows its lines and \boxed.
	y := e.tok.Encode("is 2+3\n\nso\n\\boxed{5}")
	l := e.layoutOf(y)
	if got := e.tok.Decode(y[l.answer:]); got != `\boxed{5}` {
		t.Errorf("answer span %q", got)
	}
	if len(l.starts) != 3 || e.stepOf(y)(len(y)-1) != 2 {
		t.Errorf("starts %v, last step %d: want three lines", l.starts, e.stepOf(y)(len(y)-1))
	}
}

// TestHFSampleGreedy: the sample command's path (LoadSampler, Prompt, a
// rollout engine with the sampler's EOS) decodes greedily the same ids as
// an argmax loop over full forwards, and twice the same.
func TestHFSampleGreedy(t *testing.T) {
	f := newHFFixture(t)
	be := cpu.New(2)
	s, err := hf.LoadSampler(be, hf.SamplerSource{ModelDir: f.model})
	if err != nil {
		t.Fatal(err)
	}
	in := s.Prompt("What is 2+3?")
	if got := s.Tok.Decode(in); got != "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("prompt %q", got)
	}
	const maxNew = 20
	gen, err := rollout.New(s.Model, rollout.Config{BlockSize: 16, NumBlocks: (len(in)+maxNew)/16 + 8, MaxBatch: 1, EOS: s.EOS})
	if err != nil {
		t.Fatal(err)
	}
	var runs [2][]int32
	for i := range runs {
		out, _, err := gen.Generate([][]int32{in}, 1, backend.SampleParams{TopP: 1}, maxNew, rand.New(rand.NewPCG(1, 7)))
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = out[0].Tokens
	}
	m := s.Model
	ids := append([]int32(nil), in...)
	var want []int32
	for len(want) < maxNew {
		be.ResetPool(backend.Activations)
		acts, err := m.Forward(ids, 1, len(ids))
		if err != nil {
			t.Fatal(err)
		}
		lg := be.Alloc(backend.Activations, backend.F32, len(ids), m.Cfg.Vocab)
		be.MatMul(lg, acts.Hidden(), m.Head(), backend.MatMulParams{TransB: true, Alpha: 1})
		flat := make([]float32, len(ids)*m.Cfg.Vocab)
		be.Download(lg, flat)
		last := flat[(len(ids)-1)*m.Cfg.Vocab:]
		best := 0
		for v := range last {
			if last[v] > last[best] {
				best = v
			}
		}
		if int32(best) == s.EOS {
			break
		}
		want = append(want, int32(best))
		ids = append(ids, int32(best))
	}
	if !reflect.DeepEqual(runs[0], want) || !reflect.DeepEqual(runs[1], want) {
		t.Errorf("greedy sample %v / %v, argmax loop %v", runs[0], runs[1], want)
	}
}

func TestHFErrors(t *testing.T) {
	f := newHFFixture(t)
	noTok := filepath.Join(t.TempDir(), "m")
	writeTinyQwen2(t, noTok, tinyTokVoc)
	if err := os.Remove(filepath.Join(noTok, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(t.TempDir(), "m")
	writeTinyQwen2(t, small, 200)
	ckptRun := t.TempDir()
	c := mathConfig(f)
	c.Stages = []string{"eval"}
	if _, err := Run(context.Background(), cpu.New(2), c, Options{Out: ckptRun, ModelDir: f.model}); err != nil {
		t.Fatal(err)
	}
	moved := f.model + "-moved"
	if err := os.Rename(f.model, moved); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(ckptRun, "final.safetensors")
	for _, tc := range []struct {
		name       string
		cfg        func(*Config)
		opt        Options
		wantAll    []string
		sampleOnly bool
	}{
		{"no tokenizer.json", nil, Options{ModelDir: noTok}, []string{noTok, "tokenizer.json"}, false},
		{"vocab mismatch", nil, Options{ModelDir: small}, []string{"264 tokens", "vocab_size 200"}, false},
		{"math without a model", nil, Options{}, []string{"task math", "--model"}, false},
		{"tokenizer moved", nil, Options{Checkpoint: ckpt}, []string{"tokenizer.json", "--model"}, false},
		{"repair pairs", func(c *Config) { c.SFT.RepairPairs = 4 }, Options{ModelDir: moved}, []string{"sft.repair_pairs"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mathConfig(f)
			c.Stages = []string{"sft", "eval"}
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			tc.opt.Out = t.TempDir()
			_, err := Run(context.Background(), cpu.New(2), c, tc.opt)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantAll {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.opt.ModelDir != "" || tc.opt.Checkpoint != "" {
				if _, err := hf.LoadSampler(cpu.New(2), hf.SamplerSource{Checkpoint: tc.opt.Checkpoint, ModelDir: tc.opt.ModelDir}); err == nil && tc.cfg == nil {
					t.Error("LoadSampler: no error")
				}
			}
		})
	}
	// With --model the moved tokenizer is found again.
	if _, err := hf.LoadSampler(cpu.New(2), hf.SamplerSource{Checkpoint: ckpt, ModelDir: moved}); err != nil {
		t.Errorf("checkpoint with --model: %v", err)
	}
}

// charLayoutRef is the former char-vocabulary step detection (comparison
// with the ids of ';' and '#').
func charLayoutRef(y []int32, delim, mark int32) stepLayout {
	l := stepLayout{step: make([]int, len(y)), starts: []int{0}, answer: len(y)}
	for i, t := range y {
		if t == mark {
			break
		}
		if t == delim && i+1 < len(y) {
			l.starts = append(l.starts, i+1)
		}
	}
	k := 0
	for t, tok := range y {
		l.step[t] = k
		if tok == delim {
			k++
		}
	}
	l.end = k
	for t := len(y) - 1; t >= 0; t-- {
		if y[t] == mark {
			l.answer = t
			break
		}
	}
	return l
}

// TestDelimStepsMatchCharIDs: on the character vocabulary the splitter of
// the built-in tasks is the former id comparison, on correct and corrupted
// traces of every task.
func TestDelimStepsMatchCharIDs(t *testing.T) {
	tok := tokenizer.NewChar()
	delim, mark := tok.Encode(";")[0], tok.Encode("#")[0]
	rng := rand.New(rand.NewPCG(3, 4))
	sp := delimSteps{delim: task.StepDelim, mark: task.AnswerMark}
	for _, name := range []string{"t1", "t2", "t4", "t7"} {
		tk, err := task.New(name, task.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			y := tok.Encode(tk.Generate(rng, 2+rng.IntN(3)).Solution)
			if i%2 == 1 && len(y) > 0 { // cut and shuffle a little: malformed traces too
				y = y[:rng.IntN(len(y))]
				rng.Shuffle(len(y), func(a, b int) {
					if rng.IntN(4) == 0 {
						y[a], y[b] = y[b], y[a]
					}
				})
			}
			pieces := make([]string, len(y))
			for j, id := range y {
				pieces[j] = tok.Decode([]int32{id})
			}
			if got, want := sp.layout(pieces), charLayoutRef(y, delim, mark); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %q: layout %+v, want %+v", name, tok.Decode(y), got, want)
			}
		}
	}
}

func TestLineSteps(t *testing.T) {
	cases := []struct {
		text   string
		steps  []int // per byte
		end    int
		answer int // byte offset; len(text) when none
	}{
		{"a\nb\n\\boxed{5}", []int{0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 2, 4},
		{"x=1\n\n#### 2\n", []int{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 5},
		{"\n7", []int{0, 0}, 0, 1},
		{"no answer", make([]int, 9), 0, 9},
		{"", nil, 0, 0},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		// Any split of the text into pieces: a token's step is its first
		// byte's, the answer token is the one holding the answer's offset.
		for trial := 0; trial < 20; trial++ {
			var pieces []string
			var first []int
			for i := 0; i < len(c.text); {
				n := 1
				if trial > 0 {
					n = 1 + rng.IntN(4)
				}
				n = min(n, len(c.text)-i)
				pieces = append(pieces, c.text[i:i+n])
				first = append(first, i)
				i += n
			}
			l := lineSteps{}.layout(pieces)
			wantAns := len(pieces)
			for j, o := range first {
				if o <= c.answer && c.answer < o+len(pieces[j]) {
					wantAns = j
				}
				if l.step[j] != c.steps[o] {
					t.Fatalf("%q split %q: token %d step %d, want %d", c.text, pieces, j, l.step[j], c.steps[o])
				}
			}
			if l.answer != wantAns || l.end != c.end {
				t.Fatalf("%q split %q: answer %d end %d, want %d and %d", c.text, pieces, l.answer, l.end, wantAns, c.end)
			}
			for k := 1; k < len(l.starts); k++ {
				s := l.starts[k]
				if l.step[s] <= l.step[s-1] || s > l.answer {
					t.Fatalf("%q split %q: bad step start %d in %v", c.text, pieces, s, l.starts)
				}
			}
		}
	}
}
