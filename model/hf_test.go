package model

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
)

// hfRefLogits is an independent float64 forward of one sequence following
// the transformers LlamaForCausalLM / Qwen2ForCausalLM code, straight from
// the raw arrays: embedding, RMSNorm (weight after normalisation), q/k/v
// (+bias), rotate-half RoPE with inv_freq = θ^(−2i/d) on (x_i, x_{i+d/2}),
// causal softmax attention with repeat_kv (query head h reads kv head
// h / (H/KVH)), o_proj, SwiGLU MLP, final norm, lm_head (embed when tied).
// It returns [T][V] logits.
func hfRefLogits(s hfSpec, r *hfRaw, ids []int32) [][]float64 {
	w := func(n string) []float32 { return r.data[n] }
	T, D, H, KV, hd, F := len(ids), s.dim, s.heads, s.kv, s.headDim(), s.ffn
	// linear: out[o] = Σ_i W[o,i]·x[i] (+ b[o]), W is [out, in].
	linear := func(x []float64, W []float32, b []float32, out int) []float64 {
		y := make([]float64, out)
		for o := range y {
			var acc float64
			for i, xv := range x {
				acc += float64(W[o*len(x)+i]) * xv
			}
			if b != nil {
				acc += float64(b[o])
			}
			y[o] = acc
		}
		return y
	}
	rms := func(x []float64, g []float32) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+s.eps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(g[i]) * (v * inv)
		}
		return y
	}
	rope := func(x []float64, heads, pos int) {
		half := hd / 2
		for h := 0; h < heads; h++ {
			v := x[h*hd : (h+1)*hd]
			rot := make([]float64, hd) // rotate_half(v) = cat(−v[half:], v[:half])
			for i := 0; i < half; i++ {
				rot[i], rot[i+half] = -v[i+half], v[i]
			}
			for i := 0; i < hd; i++ {
				ang := float64(pos) * math.Pow(s.theta, -2*float64(i%half)/float64(hd))
				v[i] = v[i]*math.Cos(ang) + rot[i]*math.Sin(ang)
			}
		}
	}
	x := make([][]float64, T)
	for t, id := range ids {
		x[t] = make([]float64, D)
		for i := range x[t] {
			x[t][i] = float64(w("model.embed_tokens.weight")[int(id)*D+i])
		}
	}
	bias := func(n string) []float32 {
		if s.bias() {
			return w(n)
		}
		return nil
	}
	for l := 0; l < s.layers; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range x {
			h := rms(x[t], w(p+"input_layernorm.weight"))
			q[t] = linear(h, w(p+"self_attn.q_proj.weight"), bias(p+"self_attn.q_proj.bias"), H*hd)
			k[t] = linear(h, w(p+"self_attn.k_proj.weight"), bias(p+"self_attn.k_proj.bias"), KV*hd)
			v[t] = linear(h, w(p+"self_attn.v_proj.weight"), bias(p+"self_attn.v_proj.bias"), KV*hd)
			rope(q[t], H, t)
			rope(k[t], KV, t)
		}
		for t := range x {
			att := make([]float64, H*hd)
			for h := 0; h < H; h++ {
				kvh := h / (H / KV)
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					for i := 0; i < hd; i++ {
						sc[j] += q[t][h*hd+i] * k[j][kvh*hd+i]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += sc[j] / sum * v[j][kvh*hd+i]
					}
				}
			}
			o := linear(att, w(p+"self_attn.o_proj.weight"), nil, D)
			for i := range o {
				x[t][i] += o[i]
			}
			h2 := rms(x[t], w(p+"post_attention_layernorm.weight"))
			g := linear(h2, w(p+"mlp.gate_proj.weight"), nil, F)
			u := linear(h2, w(p+"mlp.up_proj.weight"), nil, F)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			dn := linear(g, w(p+"mlp.down_proj.weight"), nil, D)
			for i := range dn {
				x[t][i] += dn[i]
			}
		}
	}
	head := "lm_head.weight"
	if s.tied {
		head = "model.embed_tokens.weight"
	}
	out := make([][]float64, T)
	for t := range x {
		out[t] = linear(rms(x[t], w("model.norm.weight")), w(head), nil, s.vocab)
	}
	return out
}

// hfVariants are the folders the load tests generate.
func hfVariants() []hfSpec {
	return []hfSpec{
		{name: "llama-tied-gqa", arch: ArchLlama, vocab: 37, dim: 48, layers: 2, heads: 6, kv: 2, ffn: 80,
			maxPos: 64, theta: 1e4, eps: 1e-5, tied: true, dtype: "F32"},
		// Defaults: num_key_value_heads = heads, rms_norm_eps 1e-6, untied, rope_theta 1e4, max_position 2048.
		{name: "llama-untied-mha-bf16-defaults", arch: ArchLlama, vocab: 29, dim: 32, layers: 2, heads: 4, kv: 4, ffn: 64,
			maxPos: 2048, theta: 1e4, eps: 1e-6, dtype: "BF16",
			omit: []string{"num_key_value_heads", "rms_norm_eps", "tie_word_embeddings", "rope_theta", "max_position_embeddings"}},
		{name: "qwen2-bias", arch: ArchQwen2, vocab: 41, dim: 32, layers: 2, heads: 4, kv: 2, ffn: 48,
			maxPos: 128, theta: 1e6, eps: 1e-6, dtype: "F32"},
		{name: "qwen2-tied-sharded-f16", arch: ArchQwen2, vocab: 33, dim: 48, layers: 3, heads: 6, kv: 3, ffn: 64,
			maxPos: 32768, theta: 1e6, eps: 1e-6, tied: true, dtype: "F16", shards: true, omit: []string{"max_position_embeddings"}},
	}
}

// relErr is max|got − want| / max|want|.
func relErr(got []float32, want []float64) float64 {
	var d, m float64
	for i, w := range want {
		d = math.Max(d, math.Abs(float64(got[i])-w))
		m = math.Max(m, math.Abs(w))
	}
	return d / m
}

func TestLoadHF(t *testing.T) {
	for _, s := range hfVariants() {
		t.Run(s.name, func(t *testing.T) {
			dir, raw := genHF(t, s, 7)
			if s.name == "qwen2-bias" {
				os.WriteFile(filepath.Join(dir, HFTokenizerFile), []byte("{}"), 0o644)
			}
			m, info, err := LoadHF(cpu.New(2), dir)
			if err != nil {
				t.Fatal(err)
			}
			want := Config{Vocab: s.vocab, Dim: s.dim, Layers: s.layers, Heads: s.heads, KVHeads: s.kv, FFN: s.ffn,
				MaxSeq: s.maxPos, RopeTheta: float32(s.theta), NormEps: float32(s.eps), TiedEmbeddings: s.tied, QKVBias: s.bias()}
			if m.Cfg != want {
				t.Errorf("config %+v, want %+v", m.Cfg, want)
			}
			if m.HasTrainState() {
				t.Error("LoadHF allocated gradients and moments")
			}
			wantFiles := 1
			if s.shards {
				wantFiles = 2
			}
			if info.Architecture != s.arch || len(info.WeightFiles) != wantFiles ||
				len(info.WeightDTypes) != 1 || info.WeightDTypes[0] != s.dtype ||
				info.BOSTokenID != 1 || len(info.EOSTokenIDs) != 2 || info.EOSTokenIDs[1] != 3 ||
				(info.TokenizerPath != "") != (s.name == "qwen2-bias") {
				t.Errorf("info %+v", info)
			}
			for _, n := range raw.names {
				if p := m.Param(n); p == nil || !bitsEqual(download(m.B, p.W), raw.data[n]) {
					t.Errorf("%s: loaded weights differ from the file", n)
				}
			}

			const B, T = 2, 7
			ids := randTokens(rand.New(rand.NewPCG(3, 4)), B*T, s.vocab)
			got := fullLogits(t, m, ids, B, T)
			for b := 0; b < B; b++ {
				ref := hfRefLogits(s, raw, ids[b*T:(b+1)*T])
				var flat []float64
				for _, row := range ref {
					flat = append(flat, row...)
				}
				if e := relErr(got[b*T*s.vocab:(b+1)*T*s.vocab], flat); e > 1e-4 {
					t.Errorf("row %d: forward logits vs float64 HF reference: relative error %.3g > 1e-4", b, e)
				}
			}

			kc, err := m.NewKVCache(8, 4)
			if err != nil {
				t.Fatal(err)
			}
			seqs := []SeqID{kc.NewSeq(), kc.NewSeq()}
			for p := 0; p < T; p++ {
				lg, err := m.Step(kc, seqs, []int32{ids[p], ids[T+p]})
				if err != nil {
					t.Fatal(err)
				}
				step := download(m.B, lg)
				for b := 0; b < B; b++ {
					full := got[(b*T+p)*s.vocab : (b*T+p+1)*s.vocab]
					want := make([]float64, s.vocab)
					for i, v := range full {
						want[i] = float64(v)
					}
					if e := relErr(step[b*s.vocab:(b+1)*s.vocab], want); e > 1e-5 {
						t.Errorf("row %d position %d: KV-cache step logits vs forward: relative error %.3g", b, p, e)
					}
				}
			}
		})
	}
}

func TestSaveHFRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		arch, dtype string
		tied, bias  bool
	}{
		{ArchLlama, "float32", true, false},
		{ArchLlama, "float32", false, false},
		{ArchQwen2, "float32", false, true},
		{ArchQwen2, "float32", true, false}, // written with zero q/k/v biases
		{ArchLlama, "bfloat16", true, false},
		{ArchQwen2, "float16", false, true},
	} {
		m := tinyModel(t, tc.tied, tc.bias, 5)
		dir := filepath.Join(t.TempDir(), "hf")
		if err := m.SaveHF(dir, tc.arch, tc.dtype); err != nil {
			t.Fatal(err)
		}
		m2, info, err := LoadHF(cpu.New(2), dir)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.arch, tc.dtype, err)
		}
		name := tc.arch + "/" + tc.dtype
		wantCfg := m.Cfg
		wantCfg.QKVBias = tc.arch == ArchQwen2
		if m2.Cfg != wantCfg || info.Architecture != tc.arch || info.TorchDtype != tc.dtype {
			t.Errorf("%s: config %+v (info %+v), want %+v", name, m2.Cfg, info, wantCfg)
		}
		for _, p := range m.Params {
			w, w2 := download(m.B, p.W), download(m2.B, m2.Param(p.Name).W)
			for i := range w {
				d := math.Abs(float64(w2[i] - w[i]))
				ok := map[string]bool{
					"float32":  math.Float32bits(w2[i]) == math.Float32bits(w[i]),
					"bfloat16": d <= math.Abs(float64(w[i]))/256 && math.Float32bits(w2[i])&0xffff == 0,
					"float16":  d <= math.Abs(float64(w[i]))/2048+math.Pow(2, -25),
				}[tc.dtype]
				if !ok {
					t.Fatalf("%s: %s[%d] = %g after the round trip, was %g", name, p.Name, i, w2[i], w[i])
				}
			}
		}
		if tc.dtype == "float32" {
			ids := randTokens(rand.New(rand.NewPCG(1, 2)), 10, testVocab)
			if !bitsEqual(fullLogits(t, m2, ids, 2, 5), fullLogits(t, m, ids, 2, 5)) {
				t.Errorf("%s: logits differ after the round trip", name)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Errorf("%s: folder holds %d files, want config.json and model.safetensors", name, len(entries))
		}
	}
	m := tinyModel(t, true, true, 1)
	for _, tc := range []struct{ arch, dtype, want string }{
		{"GPT2LMHeadModel", "float32", "GPT2LMHeadModel"},
		{ArchQwen2, "int8", `dtype "int8"`},
		{ArchLlama, "float32", "save this model as Qwen2ForCausalLM"},
	} {
		if err := m.SaveHF(t.TempDir(), tc.arch, tc.dtype); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SaveHF(%s, %s) = %v, want an error containing %q", tc.arch, tc.dtype, err, tc.want)
		}
	}
}

func TestLoadHFErrors(t *testing.T) {
	base := hfSpec{arch: ArchLlama, vocab: 11, dim: 16, layers: 2, heads: 2, kv: 1, ffn: 24,
		maxPos: 32, theta: 1e4, eps: 1e-5, dtype: "F32"}
	for _, tc := range []struct {
		name  string
		spec  func(*hfSpec)
		cfg   func(map[string]any)
		raw   func(*hfRaw)
		after func(dir string)
		want  []string
	}{
		{name: "no config", after: func(d string) { os.Remove(filepath.Join(d, HFConfigFile)) }, want: []string{"config.json", "no such file"}},
		{name: "architecture", cfg: func(c map[string]any) { c["architectures"] = []string{"GPT2LMHeadModel"} },
			want: []string{"config.json", "architecture GPT2LMHeadModel is not supported"}},
		{name: "no weights", after: func(d string) { os.Remove(filepath.Join(d, HFWeightsFile)) }, want: []string{"no weights", HFIndexFile}},
		{name: "missing tensor", raw: func(r *hfRaw) {
			delete(r.data, "model.layers.1.mlp.up_proj.weight")
			r.names = filterOut(r.names, "model.layers.1.mlp.up_proj.weight")
		}, want: []string{"missing tensor model.layers.1.mlp.up_proj.weight"}},
		{name: "wrong shape", raw: func(r *hfRaw) { r.shape["model.layers.0.self_attn.k_proj.weight"] = []int{16, 8} },
			want: []string{"model.layers.0.self_attn.k_proj.weight has shape [16 8]", "wants [8 16]"}},
		{name: "rope scaling", cfg: func(c map[string]any) { c["rope_scaling"] = map[string]any{"type": "linear", "factor": 2} },
			want: []string{"rope_scaling", `"linear" is not supported`}},
		{name: "head dim", cfg: func(c map[string]any) { c["head_dim"] = 16 }, want: []string{"head_dim 16 differs", "= 8"}},
		{name: "llama attention bias", cfg: func(c map[string]any) { c["attention_bias"] = true }, want: []string{"attention_bias"}},
		{name: "activation", cfg: func(c map[string]any) { c["hidden_act"] = "gelu" }, want: []string{`hidden_act "gelu"`}},
		{name: "missing size", cfg: func(c map[string]any) { delete(c, "intermediate_size") }, want: []string{"missing intermediate_size"}},
		{name: "bad heads", cfg: func(c map[string]any) { c["num_key_value_heads"] = 3 }, want: []string{"config.json", "kv_heads = 3"}},
		{name: "unknown tensor", raw: func(r *hfRaw) {
			r.add("model.layers.0.self_attn.o_proj.bias", 16)
			r.data["model.layers.0.self_attn.o_proj.bias"] = make([]float32, 16)
		}, want: []string{"tensor model.layers.0.self_attn.o_proj.bias is not part of a LlamaForCausalLM"}},
		{name: "sliding window", spec: func(s *hfSpec) { s.arch = ArchQwen2 }, cfg: func(c map[string]any) { c["use_sliding_window"], c["sliding_window"] = true, 16 },
			want: []string{"use_sliding_window = true is not supported"}},
		{name: "missing shard", spec: func(s *hfSpec) { s.shards = true },
			after: func(d string) { os.Remove(filepath.Join(d, "model-00002-of-00002.safetensors")) },
			want:  []string{HFIndexFile, "shard", "model-00002-of-00002.safetensors is missing"}},
		{name: "truncated weights", after: func(d string) {
			p := filepath.Join(d, HFWeightsFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-10], 0o644)
		}, want: []string{HFWeightsFile, "truncated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			if tc.spec != nil {
				tc.spec(&s)
			}
			raw := genHFRaw(s, 1)
			if tc.raw != nil {
				tc.raw(raw)
			}
			cfg := hfConfigMap(s)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			dir := t.TempDir()
			writeHFFolder(t, dir, s, cfg, fitShapes(raw))
			if tc.after != nil {
				tc.after(dir)
			}
			e := cpu.New(2)
			_, _, err := LoadHF(e, dir)
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, ps := range e.PoolStats() {
				if ps.InUse != 0 {
					t.Errorf("pool %v still holds %d bytes after the failed load", ps.Pool, ps.InUse)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

// TestLoadHFNewerKeys covers the keys of newer transformers releases
// (rope_parameters, dtype) and a tied folder that still holds lm_head.
func TestLoadHFNewerKeys(t *testing.T) {
	s := hfSpec{arch: ArchLlama, vocab: 11, dim: 16, layers: 1, heads: 2, kv: 2, ffn: 24,
		maxPos: 32, theta: 1e4, eps: 1e-5, tied: true, dtype: "F32"}
	raw := genHFRaw(s, 2)
	raw.add("lm_head.weight", s.vocab, s.dim)
	raw.data["lm_head.weight"] = make([]float32, s.vocab*s.dim) // ignored: tied
	cfg := hfConfigMap(s)
	delete(cfg, "rope_theta")
	delete(cfg, "torch_dtype")
	cfg["rope_parameters"] = map[string]any{"rope_type": "default", "rope_theta": 5e5}
	cfg["dtype"] = "bfloat16"
	dir := t.TempDir()
	writeHFFolder(t, dir, s, cfg, raw)
	m, info, err := LoadHF(cpu.New(2), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Cfg.RopeTheta != 5e5 || info.TorchDtype != "bfloat16" || !m.Cfg.TiedEmbeddings {
		t.Errorf("rope_theta %g, dtype %q, tied %v; want 5e5, bfloat16, true", m.Cfg.RopeTheta, info.TorchDtype, m.Cfg.TiedEmbeddings)
	}
	if !bitsEqual(download(m.B, m.Head()), raw.data["model.embed_tokens.weight"]) {
		t.Error("tied head is not the embedding")
	}
}

// fitShapes resizes data to a changed shape (the "wrong shape" case).
func fitShapes(r *hfRaw) *hfRaw {
	for _, n := range r.names {
		if k := numel(r.shape[n]); k != len(r.data[n]) {
			r.data[n] = make([]float32, k)
		}
	}
	return r
}

func filterOut(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

func TestHalfAndBF16Conversion(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := halfToFloat(uint16(h))
		if f == f && floatToHalf(f) != uint16(h) {
			t.Fatalf("half %#04x → %g → %#04x", h, f, floatToHalf(f))
		}
		g := math.Float32frombits(uint32(h) << 16)
		if g == g && floatToBF16(g) != uint16(h) {
			t.Fatalf("bf16 %#04x → %g → %#04x", h, g, floatToBF16(g))
		}
	}
	ulp := math.Pow(2, -10)
	for _, tc := range []struct {
		in   float64
		half uint16
	}{
		{1 + ulp/2, 0x3c00},         // tie → even (down)
		{1 + 3*ulp/2, 0x3c02},       // tie → even (up)
		{1 + ulp/2 + 1e-7, 0x3c01},  // above the tie
		{65504, 0x7bff},             // largest finite
		{65520, 0x7c00},             // rounds to Inf
		{-1e9, 0xfc00},              // overflow
		{math.Pow(2, -24), 0x0001},  // smallest subnormal
		{math.Pow(2, -25), 0x0000},  // tie with zero → even
		{math.Pow(2, -25) * 1.5, 1}, // above the tie
		{math.NaN(), 0x7e00},
	} {
		if got := floatToHalf(float32(tc.in)); got != tc.half {
			t.Errorf("floatToHalf(%g) = %#04x, want %#04x", tc.in, got, tc.half)
		}
	}
	for _, tc := range []struct {
		bits uint32
		want uint16
	}{{0x3f808000, 0x3f80}, {0x3f818000, 0x3f82}, {0x3f808001, 0x3f81}, {0x7f7fffff, 0x7f80}, {0x7fc00001, 0x7fc0}} {
		if got := floatToBF16(math.Float32frombits(tc.bits)); got != tc.want {
			t.Errorf("floatToBF16(%#08x) = %#04x, want %#04x", tc.bits, got, tc.want)
		}
	}
}
