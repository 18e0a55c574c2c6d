package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sirl-dev/sirl/backend"
)

// Hugging Face model folder names and the architectures LoadHF reads.
const (
	HFConfigFile    = "config.json"
	HFWeightsFile   = "model.safetensors"
	HFIndexFile     = "model.safetensors.index.json"
	HFTokenizerFile = "tokenizer.json"
	ArchLlama       = "LlamaForCausalLM"
	ArchQwen2       = "Qwen2ForCausalLM"
)

// HFInfo describes a Hugging Face model folder read by LoadHF.
type HFInfo struct {
	Dir          string
	Architecture string // ArchLlama or ArchQwen2
	ModelType    string // config model_type ("llama", "qwen2")
	TorchDtype   string // config torch_dtype (or dtype), "" when absent
	ConfigPath   string
	// WeightFiles are the safetensors files read, in load order.
	WeightFiles []string
	// WeightDTypes are the safetensors dtypes found ("BF16", "F32", ...).
	WeightDTypes []string
	// Paths of the optional side files; "" when absent.
	TokenizerPath, TokenizerConfigPath, GenerationConfigPath string
	// BOSTokenID is the config's bos_token_id, -1 when absent;
	// EOSTokenIDs its eos_token_id (a number or a list).
	BOSTokenID  int
	EOSTokenIDs []int
}

// hfConfig is the part of a Hugging Face config.json that LoadHF reads;
// pointers tell an absent key from a zero one.
type hfConfig struct {
	Architectures    []string        `json:"architectures"`
	ModelType        string          `json:"model_type"`
	HiddenSize       *int            `json:"hidden_size"`
	Layers           *int            `json:"num_hidden_layers"`
	Heads            *int            `json:"num_attention_heads"`
	KVHeads          *int            `json:"num_key_value_heads"`
	HeadDim          *int            `json:"head_dim"`
	Intermediate     *int            `json:"intermediate_size"`
	Vocab            *int            `json:"vocab_size"`
	MaxPos           *int            `json:"max_position_embeddings"`
	RopeTheta        *float64        `json:"rope_theta"`
	NormEps          *float64        `json:"rms_norm_eps"`
	Tie              *bool           `json:"tie_word_embeddings"`
	AttnBias         *bool           `json:"attention_bias"`
	MLPBias          *bool           `json:"mlp_bias"`
	HiddenAct        *string         `json:"hidden_act"`
	RopeScaling      json.RawMessage `json:"rope_scaling"`
	RopeParameters   json.RawMessage `json:"rope_parameters"`
	UseSlidingWindow *bool           `json:"use_sliding_window"`
	SlidingWindow    *int            `json:"sliding_window"`
	TorchDtype       string          `json:"torch_dtype"`
	Dtype            string          `json:"dtype"`
	BOS              json.RawMessage `json:"bos_token_id"`
	EOS              json.RawMessage `json:"eos_token_id"`
}

// LoadHF builds a model on b from a Hugging Face folder holding a
// LlamaForCausalLM or Qwen2ForCausalLM: config.json (missing keys take the
// transformers defaults of that architecture; the five size keys are
// required) and model.safetensors, or the shards listed in
// model.safetensors.index.json. BF16, F16 and F32 tensors are converted to
// float32. Rope scaling, sliding-window attention, biases other than
// Qwen2's q/k/v biases, and a head_dim other than hidden/heads are
// unsupported and refused; so is any tensor the model has no place for
// (other than rotary_emb.inv_freq, or lm_head.weight when tied). The model
// has no gradients or moments until EnsureTrainState.
func LoadHF(b backend.Backend, dir string) (*Model, *HFInfo, error) {
	cfg, info, err := readHFConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	shards, err := hfShards(dir, info)
	if err != nil {
		return nil, nil, err
	}
	want := map[string][]int{}
	for _, s := range cfg.paramShapes() {
		want[s.name] = s.shape
	}
	seen := map[string]bool{}
	for _, sh := range shards {
		for _, name := range sh.names {
			switch {
			case want[name] != nil:
				seen[name] = true
			case strings.HasSuffix(name, "rotary_emb.inv_freq"),
				name == "lm_head.weight" && cfg.TiedEmbeddings:
			default:
				return nil, nil, fmt.Errorf("hf model %s: tensor %s is not part of a %s with this config (unsupported feature or wrong config)", sh.path, name, info.Architecture)
			}
		}
	}
	for _, s := range cfg.paramShapes() {
		if !seen[s.name] {
			where := filepath.Join(dir, HFWeightsFile)
			if len(shards) > 0 && shards[0].index != "" {
				where = shards[0].index
			}
			return nil, nil, fmt.Errorf("hf model %s: missing tensor %s (shape %v)", where, s.name, s.shape)
		}
	}
	m, err := alloc(b, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("hf model %s: %w", dir, err)
	}
	if err := m.loadHFShards(shards, info); err != nil {
		for _, p := range m.Params { // give the memory back (a device may hold it)
			b.Free(p.W) // a fresh model has no G, M, V
		}
		return nil, nil, err
	}
	return m, info, nil
}

// loadHFShards reads the shards one at a time and uploads each parameter,
// checking its shape and dtype; it records the files and dtypes in info.
func (m *Model) loadHFShards(shards []hfShard, info *HFInfo) error {
	dts := map[string]bool{}
	var buf []float32 // one decode buffer for all tensors
	for _, sh := range shards {
		f := sh.file
		if f == nil {
			var err error
			if f, err = ReadSafetensors(sh.path); err != nil {
				return err
			}
		}
		info.WeightFiles = append(info.WeightFiles, sh.path)
		for _, name := range sh.names {
			p := m.byName[name]
			if p == nil {
				continue
			}
			dt, shape, ok := f.Info(name)
			switch {
			case !ok:
				return fmt.Errorf("hf model %s: %s lists tensor %s in this file, which does not hold it", sh.path, sh.index, name)
			case !slices.Equal(shape, p.Shape):
				return fmt.Errorf("hf model %s: tensor %s has shape %v, the config wants %v", sh.path, name, shape, p.Shape)
			case dt != "F32" && dt != "BF16" && dt != "F16":
				return fmt.Errorf("hf model %s: tensor %s has dtype %s (want F32, BF16 or F16)", sh.path, name, dt)
			}
			dts[dt] = true
			n := p.W.Len()
			if cap(buf) < n {
				buf = make([]float32, n)
			}
			decodeInto(buf[:n], f, name)
			m.B.Upload(p.W, buf[:n])
		}
	}
	for dt := range dts {
		info.WeightDTypes = append(info.WeightDTypes, dt)
	}
	sort.Strings(info.WeightDTypes)
	if err := m.B.Err(); err != nil {
		return fmt.Errorf("hf model %s: %w", info.Dir, err)
	}
	return nil
}

// decodeInto converts tensor name of f (F32, BF16 or F16, checked by the
// caller, len(dst) elements) to float32 into dst, without allocating.
func decodeInto(dst []float32, f *SafeFile, name string) {
	e := f.entries[name]
	src := f.data[e.DataOffsets[0]:e.DataOffsets[1]]
	switch e.DType {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case "F16":
		for i := range dst {
			dst[i] = halfToFloat(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
}

// readHFConfig parses dir/config.json into a Config and the HFInfo.
func readHFConfig(dir string) (Config, *HFInfo, error) {
	path := filepath.Join(dir, HFConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("hf model %s: %w", dir, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("hf model %s: "+format, append([]any{path}, a...)...)
	}
	var hc hfConfig
	if err := json.Unmarshal(raw, &hc); err != nil {
		return Config{}, nil, bad("bad JSON: %v", err)
	}
	if len(hc.Architectures) == 0 {
		return Config{}, nil, bad("no architectures listed (want %s or %s)", ArchLlama, ArchQwen2)
	}
	arch := hc.Architectures[0]
	if arch != ArchLlama && arch != ArchQwen2 {
		return Config{}, nil, bad("architecture %s is not supported (want %s or %s)", arch, ArchLlama, ArchQwen2)
	}
	for _, f := range []struct {
		key string
		v   *int
	}{{"hidden_size", hc.HiddenSize}, {"num_hidden_layers", hc.Layers}, {"num_attention_heads", hc.Heads},
		{"intermediate_size", hc.Intermediate}, {"vocab_size", hc.Vocab}} {
		if f.v == nil {
			return Config{}, nil, bad("missing %s", f.key)
		}
		if *f.v <= 0 {
			return Config{}, nil, bad("%s = %d, must be positive", f.key, *f.v)
		}
	}
	// Defaults of transformers' LlamaConfig and Qwen2Config.
	kv, maxPos, theta, eps, tie := *hc.Heads, 2048, 1e4, 1e-6, false
	if arch == ArchQwen2 {
		kv, maxPos = 32, 32768
	}
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&kv, hc.KVHeads)
	set(&maxPos, hc.MaxPos)
	setF(&theta, hc.RopeTheta)
	setF(&eps, hc.NormEps)
	if hc.Tie != nil {
		tie = *hc.Tie
	}
	if t, err := ropeDefaultTheta(hc.RopeParameters); err != nil {
		return Config{}, nil, bad("rope_parameters %s: %v", compactJSON(hc.RopeParameters), err)
	} else if t > 0 {
		theta = t
	}
	if _, err := ropeDefaultTheta(hc.RopeScaling); err != nil {
		return Config{}, nil, bad("rope_scaling %s: %v", compactJSON(hc.RopeScaling), err)
	}
	switch {
	case hc.HiddenAct != nil && *hc.HiddenAct != "silu":
		return Config{}, nil, bad("hidden_act %q is not supported (want silu)", *hc.HiddenAct)
	case arch == ArchLlama && hc.AttnBias != nil && *hc.AttnBias:
		return Config{}, nil, bad("attention_bias = true (q/k/v/o biases) is not supported for %s", arch)
	case hc.MLPBias != nil && *hc.MLPBias:
		return Config{}, nil, bad("mlp_bias = true is not supported")
	case hc.UseSlidingWindow != nil && *hc.UseSlidingWindow && (hc.SlidingWindow == nil || *hc.SlidingWindow < maxPos):
		return Config{}, nil, bad("use_sliding_window = true is not supported (full attention only)")
	case *hc.HiddenSize%*hc.Heads != 0:
		return Config{}, nil, bad("hidden_size %d is not a multiple of num_attention_heads %d", *hc.HiddenSize, *hc.Heads)
	case hc.HeadDim != nil && *hc.HeadDim != *hc.HiddenSize / *hc.Heads:
		return Config{}, nil, bad("head_dim %d differs from hidden_size/num_attention_heads = %d (unsupported)", *hc.HeadDim, *hc.HiddenSize / *hc.Heads)
	}
	cfg := Config{Vocab: *hc.Vocab, Dim: *hc.HiddenSize, Layers: *hc.Layers, Heads: *hc.Heads, KVHeads: kv,
		FFN: *hc.Intermediate, MaxSeq: maxPos, RopeTheta: float32(theta), NormEps: float32(eps),
		TiedEmbeddings: tie, QKVBias: arch == ArchQwen2}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, bad("%v", err)
	}
	info := &HFInfo{Dir: dir, Architecture: arch, ModelType: hc.ModelType, TorchDtype: hc.TorchDtype,
		ConfigPath: path, BOSTokenID: -1}
	if info.TorchDtype == "" {
		info.TorchDtype = hc.Dtype
	}
	if ids, err := tokenIDs(hc.BOS); err != nil {
		return Config{}, nil, bad("bos_token_id: %v", err)
	} else if len(ids) > 0 {
		info.BOSTokenID = ids[0]
	}
	if info.EOSTokenIDs, err = tokenIDs(hc.EOS); err != nil {
		return Config{}, nil, bad("eos_token_id: %v", err)
	}
	for _, side := range []struct {
		dst  *string
		name string
	}{{&info.TokenizerPath, HFTokenizerFile}, {&info.TokenizerConfigPath, "tokenizer_config.json"},
		{&info.GenerationConfigPath, "generation_config.json"}} {
		if p := filepath.Join(dir, side.name); fileExists(p) {
			*side.dst = p
		}
	}
	return cfg, info, nil
}

// ropeDefaultTheta accepts a null or absent rope_scaling/rope_parameters, or
// one whose rope type is "default", and returns its rope_theta (0 when not
// given); any other rope type is an error.
func ropeDefaultTheta(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var rp struct {
		RopeType string  `json:"rope_type"`
		Type     string  `json:"type"`
		Theta    float64 `json:"rope_theta"`
	}
	if err := json.Unmarshal(raw, &rp); err != nil {
		return 0, err
	}
	if t := rp.RopeType + rp.Type; t != "default" {
		return 0, fmt.Errorf("rope type %q is not supported (plain RoPE only)", t)
	}
	return rp.Theta, nil
}

// compactJSON is raw on one line.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return strconv.Quote(string(raw))
	}
	return b.String()
}

// tokenIDs decodes a token id given as null, a number or a list of numbers.
func tokenIDs(raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if json.Unmarshal(raw, &one) == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want a number or a list of numbers, got %s", raw)
	}
	return many, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// hfShard is one weights file and the tensor names it holds (file is set
// when it was already read to list them).
type hfShard struct {
	path, index string
	names       []string
	file        *SafeFile
}

// hfShards lists the weight files of dir: model.safetensors (read now), or
// the shards of model.safetensors.index.json (read later, one at a time).
func hfShards(dir string, info *HFInfo) ([]hfShard, error) {
	single := filepath.Join(dir, HFWeightsFile)
	if fileExists(single) {
		f, err := ReadSafetensors(single)
		if err != nil {
			return nil, err
		}
		return []hfShard{{path: single, names: f.Names(), file: f}}, nil
	}
	index := filepath.Join(dir, HFIndexFile)
	raw, err := os.ReadFile(index)
	if errors.Is(err, fs.ErrNotExist) {
		hint := ""
		if fileExists(filepath.Join(dir, "pytorch_model.bin")) {
			hint = " (pytorch_model.bin is not read: convert it to safetensors)"
		}
		return nil, fmt.Errorf("hf model %s: no weights: neither %s nor %s%s", dir, HFWeightsFile, HFIndexFile, hint)
	} else if err != nil {
		return nil, fmt.Errorf("hf model %s: %w", dir, err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("hf model %s: bad JSON: %v", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("hf model %s: empty or missing weight_map", index)
	}
	byFile := map[string][]string{}
	for name, file := range idx.WeightMap {
		if file == "" || filepath.Base(file) != file {
			return nil, fmt.Errorf("hf model %s: tensor %s maps to %q, not a file name in the folder", index, name, file)
		}
		byFile[file] = append(byFile[file], name)
	}
	var shards []hfShard
	for file, names := range byFile {
		p := filepath.Join(dir, file)
		if !fileExists(p) {
			return nil, fmt.Errorf("hf model %s: shard %s is missing (listed for tensor %s)", index, p, names[0])
		}
		sort.Strings(names)
		shards = append(shards, hfShard{path: p, index: index, names: names})
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].path < shards[j].path })
	return shards, nil
}
