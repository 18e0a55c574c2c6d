package model

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// hfSpec is a tiny Hugging Face model folder to generate.
type hfSpec struct {
	name, arch                                 string
	vocab, dim, layers, heads, kv, ffn, maxPos int
	theta, eps                                 float64
	tied                                       bool
	dtype                                      string   // safetensors dtype: F32, BF16 or F16
	shards                                     bool     // two files and an index instead of model.safetensors
	omit                                       []string // config.json keys left out (their HF defaults must apply)
}

func (s hfSpec) headDim() int { return s.dim / s.heads }
func (s hfSpec) bias() bool   { return s.arch == ArchQwen2 }

// hfRaw is the raw float32 weights of a generated folder under their HF
// names, in HF order.
type hfRaw struct {
	names []string
	shape map[string][]int
	data  map[string][]float32
}

func (r *hfRaw) add(name string, shape ...int) {
	r.names = append(r.names, name)
	r.shape[name] = shape
}

// genHFRaw draws random weights for s, written out from the HF module
// layout (not from Config.paramShapes): matrices ~ N(0, 1/fan_in), the
// embedding ~ N(0, 1), norm weights ~ 1 + N(0, 0.1²), biases ~ N(0, 0.2²);
// values are made exactly representable in s.dtype.
func genHFRaw(s hfSpec, seed uint64) *hfRaw {
	r := &hfRaw{shape: map[string][]int{}, data: map[string][]float32{}}
	hd := s.headDim()
	r.add("model.embed_tokens.weight", s.vocab, s.dim)
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		r.add(p+"input_layernorm.weight", s.dim)
		for _, proj := range []struct {
			n    string
			rows int
		}{{"q", s.heads * hd}, {"k", s.kv * hd}, {"v", s.kv * hd}} {
			r.add(p+"self_attn."+proj.n+"_proj.weight", proj.rows, s.dim)
			if s.bias() {
				r.add(p+"self_attn."+proj.n+"_proj.bias", proj.rows)
			}
		}
		r.add(p+"self_attn.o_proj.weight", s.dim, s.heads*hd)
		r.add(p+"post_attention_layernorm.weight", s.dim)
		r.add(p+"mlp.gate_proj.weight", s.ffn, s.dim)
		r.add(p+"mlp.up_proj.weight", s.ffn, s.dim)
		r.add(p+"mlp.down_proj.weight", s.dim, s.ffn)
	}
	r.add("model.norm.weight", s.dim)
	if !s.tied {
		r.add("lm_head.weight", s.vocab, s.dim)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, n := range r.names {
		sh := r.shape[n]
		d := make([]float32, numel(sh))
		for i := range d {
			g := rng.NormFloat64()
			switch {
			case len(sh) == 2 && n != "model.embed_tokens.weight":
				g /= math.Sqrt(float64(sh[1]))
			case len(sh) == 1 && filepath.Ext(n) == ".bias":
				g *= 0.2
			case len(sh) == 1:
				g = 1 + 0.1*g
			}
			d[i] = representable(float32(g), s.dtype)
		}
		r.data[n] = d
	}
	return r
}

// representable makes v exactly representable in a safetensors dtype:
// BF16 drops the low 16 bits; F16 rounds to a multiple of 2⁻¹⁰ in
// (−2, 2), which binary16 holds exactly.
func representable(v float32, dtype string) float32 {
	switch dtype {
	case "BF16":
		return math.Float32frombits(math.Float32bits(v) &^ 0xffff)
	case "F16":
		k := math.Max(-2047, math.Min(2047, math.Round(float64(v)*1024)))
		return float32(k / 1024)
	}
	return v
}

// hfConfigMap is the config.json of s, with the keys of s.omit left out.
func hfConfigMap(s hfSpec) map[string]any {
	mt := map[string]string{ArchLlama: "llama", ArchQwen2: "qwen2"}[s.arch]
	c := map[string]any{
		"architectures": []string{s.arch}, "model_type": mt, "hidden_act": "silu",
		"hidden_size": s.dim, "num_hidden_layers": s.layers, "num_attention_heads": s.heads,
		"num_key_value_heads": s.kv, "intermediate_size": s.ffn, "vocab_size": s.vocab,
		"max_position_embeddings": s.maxPos, "rope_theta": s.theta, "rms_norm_eps": s.eps,
		"tie_word_embeddings": s.tied, "torch_dtype": map[string]string{"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[s.dtype],
		"rope_scaling": nil, "bos_token_id": 1, "eos_token_id": []int{2, 3},
	}
	if s.arch == ArchQwen2 {
		c["use_sliding_window"], c["sliding_window"], c["max_window_layers"] = false, 4096, s.layers
	} else {
		c["attention_bias"], c["mlp_bias"] = false, false
	}
	for _, k := range s.omit {
		delete(c, k)
	}
	return c
}

// writeHFFolder writes config.json (cfg) and the weights of raw in s.dtype
// to dir: model.safetensors, or two shards and model.safetensors.index.json.
func writeHFFolder(t testing.TB, dir string, s hfSpec, cfg map[string]any, raw *hfRaw) {
	t.Helper()
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, HFConfigFile), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(file string, names []string) {
		var specs []tensorSpec
		for _, n := range names {
			specs = append(specs, tensorSpec{Name: n, Shape: raw.shape[n], Fill: func(dst []float32) { copy(dst, raw.data[n]) }})
		}
		if err := writeSafetensorsAs(filepath.Join(dir, file), specs, map[string]string{"format": "pt"}, s.dtype); err != nil {
			t.Fatal(err)
		}
	}
	if !s.shards {
		write(HFWeightsFile, raw.names)
		return
	}
	half := len(raw.names) / 2
	files := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	parts := [][]string{raw.names[:half], raw.names[half:]}
	wm := map[string]string{}
	for i, f := range files {
		write(f, parts[i])
		for _, n := range parts[i] {
			wm[n] = f
		}
	}
	ij, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": wm})
	if err := os.WriteFile(filepath.Join(dir, HFIndexFile), ij, 0o644); err != nil {
		t.Fatal(err)
	}
}

// genHF writes a fresh folder for s and returns it with its raw weights.
func genHF(t testing.TB, s hfSpec, seed uint64) (string, *hfRaw) {
	t.Helper()
	dir := t.TempDir()
	raw := genHFRaw(s, seed)
	writeHFFolder(t, dir, s, hfConfigMap(s), raw)
	return dir, raw
}
