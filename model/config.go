// Package model is a Llama-style decoder-only transformer written against
// backend.Backend: configuration, parameters with Hugging Face names, an
// explicit training forward and backward, a paged KV cache with prefix fork
// for decoding, and safetensors checkpoints.
//
// The model never touches tensor elements itself: every computation is a
// backend op, and host data moves only through Upload and Download.
//
// Per-head activations (q, k, v, attention output) are kept as [B·T, H·hd]
// matrices and handed as they are to RoPE and the attention ops, which take
// the head geometry from their parameters (and B, T from lse) and check only
// element counts: the backend has no reshape, and none is needed.
package model

import (
	"fmt"
	"sort"
	"strings"
)

// Config is the shape of a model. Field names follow the Hugging Face Llama
// config where one exists (hidden_size → Dim, intermediate_size → FFN, ...).
type Config struct {
	Vocab   int `json:"vocab" mapstructure:"vocab"`
	Dim     int `json:"dim" mapstructure:"dim"`
	Layers  int `json:"layers" mapstructure:"layers"`
	Heads   int `json:"heads" mapstructure:"heads"`
	KVHeads int `json:"kv_heads" mapstructure:"kv_heads"`
	FFN     int `json:"ffn" mapstructure:"ffn"`
	MaxSeq  int `json:"max_seq" mapstructure:"max_seq"`

	RopeTheta float32 `json:"rope_theta" mapstructure:"rope_theta"`
	NormEps   float32 `json:"norm_eps" mapstructure:"norm_eps"`

	// TiedEmbeddings shares the LM head with the token embedding.
	TiedEmbeddings bool `json:"tied_embeddings" mapstructure:"tied_embeddings"`
	// QKVBias adds biases to the q, k and v projections (as Qwen2 does).
	QKVBias bool `json:"qkv_bias" mapstructure:"qkv_bias"`
	// InitStd is the standard deviation of the initial weights (0 → 0.02).
	InitStd float32 `json:"init_std" mapstructure:"init_std"`
}

// presets are the named model shapes (vocabulary filled in by Preset).
func presets() map[string]Config {
	base := Config{RopeTheta: 10000, NormEps: 1e-5}
	tiny, small, gpt2 := base, base, base
	tiny.Dim, tiny.Layers, tiny.Heads, tiny.KVHeads, tiny.FFN, tiny.MaxSeq = 32, 2, 4, 2, 64, 64
	small.Dim, small.Layers, small.Heads, small.KVHeads, small.FFN, small.MaxSeq = 128, 4, 4, 4, 352, 128
	gpt2.Dim, gpt2.Layers, gpt2.Heads, gpt2.KVHeads, gpt2.FFN, gpt2.MaxSeq = 768, 12, 12, 12, 3072, 1024
	gpt2.TiedEmbeddings = true // as GPT-2; tiny and small are untied (char models learn faster so)
	return map[string]Config{"tiny": tiny, "small": small, "gpt2-small": gpt2}
}

// PresetNames lists the preset names in sorted order.
func PresetNames() []string {
	var names []string
	for n := range presets() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns a named model shape with the given vocabulary size:
// "tiny" (tests), "small" (the CPU quickstart) or "gpt2-small" (GPT-2 sized
// Llama). An unknown name is an error that lists the presets.
func Preset(name string, vocab int) (Config, error) {
	c, ok := presets()[name]
	if !ok {
		return Config{}, fmt.Errorf("model: unknown preset %q (presets: %s)", name, strings.Join(PresetNames(), ", "))
	}
	c.Vocab = vocab
	return c, c.Validate()
}

// Validate checks the config and names the first bad field.
func (c Config) Validate() error {
	pos := []struct {
		name string
		v    int
	}{{"vocab", c.Vocab}, {"dim", c.Dim}, {"layers", c.Layers}, {"heads", c.Heads},
		{"kv_heads", c.KVHeads}, {"ffn", c.FFN}, {"max_seq", c.MaxSeq}}
	for _, f := range pos {
		if f.v <= 0 {
			return fmt.Errorf("model config: %s = %d, must be positive", f.name, f.v)
		}
	}
	switch {
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("model config: dim = %d is not a multiple of heads = %d", c.Dim, c.Heads)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("model config: heads = %d is not a multiple of kv_heads = %d", c.Heads, c.KVHeads)
	case c.HeadDim()%2 != 0:
		return fmt.Errorf("model config: head dim dim/heads = %d must be even (RoPE rotates pairs)", c.HeadDim())
	case !(c.RopeTheta > 0):
		return fmt.Errorf("model config: rope_theta = %g, must be positive", c.RopeTheta)
	case !(c.NormEps > 0):
		return fmt.Errorf("model config: norm_eps = %g, must be positive", c.NormEps)
	case !(c.InitStd >= 0):
		return fmt.Errorf("model config: init_std = %g, must be ≥ 0", c.InitStd)
	}
	return nil
}

// HeadDim is the width of one attention head, Dim / Heads.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// initStd is InitStd with the default filled in.
func (c Config) initStd() float32 {
	if c.InitStd == 0 {
		return 0.02
	}
	return c.InitStd
}

// NumParams is the number of trainable parameters (the tied head counted once).
func (c Config) NumParams() int64 {
	var n int64
	for _, s := range c.paramShapes() {
		n += int64(s.numel())
	}
	return n
}

// paramShape is one parameter's name and shape, before allocation.
type paramShape struct {
	name  string
	shape []int
}

func (p paramShape) numel() int {
	n := 1
	for _, s := range p.shape {
		n *= s
	}
	return n
}

// paramShapes lists every parameter in a fixed order (the init order and the
// checkpoint order) under its Hugging Face name.
func (c Config) paramShapes() []paramShape {
	d, hd := c.Dim, c.HeadDim()
	qd, kvd := c.Heads*hd, c.KVHeads*hd
	ps := []paramShape{{"model.embed_tokens.weight", []int{c.Vocab, d}}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		ps = append(ps, paramShape{p + "input_layernorm.weight", []int{d}},
			paramShape{p + "self_attn.q_proj.weight", []int{qd, d}})
		if c.QKVBias {
			ps = append(ps, paramShape{p + "self_attn.q_proj.bias", []int{qd}})
		}
		ps = append(ps, paramShape{p + "self_attn.k_proj.weight", []int{kvd, d}})
		if c.QKVBias {
			ps = append(ps, paramShape{p + "self_attn.k_proj.bias", []int{kvd}})
		}
		ps = append(ps, paramShape{p + "self_attn.v_proj.weight", []int{kvd, d}})
		if c.QKVBias {
			ps = append(ps, paramShape{p + "self_attn.v_proj.bias", []int{kvd}})
		}
		ps = append(ps,
			paramShape{p + "self_attn.o_proj.weight", []int{d, qd}},
			paramShape{p + "post_attention_layernorm.weight", []int{d}},
			paramShape{p + "mlp.gate_proj.weight", []int{c.FFN, d}},
			paramShape{p + "mlp.up_proj.weight", []int{c.FFN, d}},
			paramShape{p + "mlp.down_proj.weight", []int{d, c.FFN}})
	}
	ps = append(ps, paramShape{"model.norm.weight", []int{d}})
	if !c.TiedEmbeddings {
		ps = append(ps, paramShape{"lm_head.weight", []int{c.Vocab, d}})
	}
	return ps
}
