package model

import (
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		name                                   string
		dim, layers, heads, kvHeads, ffn, maxS int
	}{
		{"tiny", 32, 2, 4, 2, 64, 64},
		{"small", 128, 4, 4, 4, 352, 128},
		{"gpt2-small", 768, 12, 12, 12, 3072, 1024},
	} {
		c, err := Preset(tc.name, 50)
		if err != nil {
			t.Fatal(err)
		}
		if c.Vocab != 50 || c.Dim != tc.dim || c.Layers != tc.layers || c.Heads != tc.heads ||
			c.KVHeads != tc.kvHeads || c.FFN != tc.ffn || c.MaxSeq != tc.maxS {
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
	_, err := Preset("huge", 50)
	if err == nil || !strings.Contains(err.Error(), "gpt2-small, small, tiny") {
		t.Errorf("unknown preset: error %v, want the list of presets", err)
	}
	// GPT-2 small with a 50257 vocabulary, tied: 124M parameters less the
	// position embeddings and biases, plus the gated MLP's third matrix.
	c, _ := Preset("gpt2-small", 50257)
	if n := c.NumParams(); n != 50257*768+12*(2*768+4*768*768+3*768*3072)+768 {
		t.Errorf("gpt2-small: %d params", n)
	}
}

func TestValidate(t *testing.T) {
	base, _ := Preset("tiny", 10)
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"vocab", func(c *Config) { c.Vocab = 0 }},
		{"dim", func(c *Config) { c.Dim = -1 }},
		{"layers", func(c *Config) { c.Layers = 0 }},
		{"kv_heads", func(c *Config) { c.KVHeads = 3 }},
		{"heads", func(c *Config) { c.Heads = 5 }},
		{"ffn", func(c *Config) { c.FFN = 0 }},
		{"max_seq", func(c *Config) { c.MaxSeq = 0 }},
		{"head dim", func(c *Config) { c.Dim, c.Heads, c.KVHeads = 12, 4, 4 }},
		{"rope_theta", func(c *Config) { c.RopeTheta = 0 }},
		{"norm_eps", func(c *Config) { c.NormEps = -1 }},
		{"init_std", func(c *Config) { c.InitStd = -0.1 }},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want it to name the field", tc.field, err)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("tiny preset: %v", err)
	}
}

func TestNumParamsMatchesAllocation(t *testing.T) {
	for _, tied := range []bool{true, false} {
		m := tinyModel(t, tied, true, 1)
		var n int64
		for _, p := range m.Params {
			n += int64(p.W.Len())
			if m.Param(p.Name) != p {
				t.Errorf("Param(%q) does not find it", p.Name)
			}
		}
		if n != m.Cfg.NumParams() {
			t.Errorf("tied=%v: allocated %d, NumParams %d", tied, n, m.Cfg.NumParams())
		}
		if hasHead := m.Param("lm_head.weight") != nil; hasHead == tied {
			t.Errorf("tied=%v: lm_head.weight present=%v", tied, hasHead)
		}
		if tied && m.Head() != m.Param("model.embed_tokens.weight").W {
			t.Error("tied head is not the embedding")
		}
	}
}
