package model

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SaveHF writes m as a Hugging Face folder in dir (created if needed):
// config.json for arch (ArchLlama or ArchQwen2) and model.safetensors with
// dtype "float32", "bfloat16" or "float16" (rounded to nearest even), with
// the "pt" format metadata transformers expects; the head is omitted when
// tied. A Qwen2 model without q/k/v biases is written with zero biases; a
// Llama with them cannot be expressed and is an error. Both files are
// written to temporary names and renamed. For float32, LoadHF gives back
// the same Config (but InitStd) and bitwise the same weights.
func (m *Model) SaveHF(dir, arch, dtype string) error {
	c := m.Cfg
	st := map[string]string{"float32": "F32", "bfloat16": "BF16", "float16": "F16"}[dtype]
	switch {
	case arch != ArchLlama && arch != ArchQwen2:
		return fmt.Errorf("save hf %s: architecture %q (want %s or %s)", dir, arch, ArchLlama, ArchQwen2)
	case st == "":
		return fmt.Errorf("save hf %s: dtype %q (want float32, bfloat16 or float16)", dir, dtype)
	case arch == ArchLlama && c.QKVBias:
		return fmt.Errorf("save hf %s: a %s has no q/k/v-only biases; save this model as %s", dir, arch, ArchQwen2)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save hf %s: %w", dir, err)
	}
	hc := map[string]any{
		"architectures": []string{arch}, "hidden_act": "silu",
		"hidden_size": c.Dim, "intermediate_size": c.FFN, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "head_dim": c.HeadDim(),
		"vocab_size": c.Vocab, "max_position_embeddings": c.MaxSeq,
		"rope_theta": jsonFloat32(c.RopeTheta), "rms_norm_eps": jsonFloat32(c.NormEps),
		"rope_scaling": nil, "tie_word_embeddings": c.TiedEmbeddings, "torch_dtype": dtype,
		"initializer_range": jsonFloat32(c.initStd()), "use_cache": true, "attention_dropout": 0.0,
	}
	if arch == ArchLlama {
		hc["model_type"], hc["attention_bias"], hc["mlp_bias"] = "llama", false, false
	} else {
		hc["model_type"], hc["use_sliding_window"], hc["sliding_window"] = "qwen2", false, nil
		hc["max_window_layers"] = c.Layers
	}
	cj, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return fmt.Errorf("save hf %s: %w", dir, err)
	}
	var specs []tensorSpec
	for _, p := range m.Params {
		specs = append(specs, tensorSpec{Name: p.Name, Shape: p.Shape, Fill: func(dst []float32) { m.B.Download(p.W, dst) }})
		if arch == ArchQwen2 && !c.QKVBias && strings.HasSuffix(p.Name, "_proj.weight") &&
			strings.Contains(p.Name, "self_attn.") && !strings.Contains(p.Name, "o_proj") {
			specs = append(specs, tensorSpec{Name: strings.TrimSuffix(p.Name, "weight") + "bias",
				Shape: p.Shape[:1], Fill: func(dst []float32) { clear(dst) }})
		}
	}
	if err := writeSafetensorsAs(filepath.Join(dir, HFWeightsFile), specs, map[string]string{"format": "pt"}, st); err != nil {
		return err
	}
	if err := m.B.Err(); err != nil {
		return fmt.Errorf("save hf %s: %w", dir, err)
	}
	return writeFileAtomic(filepath.Join(dir, HFConfigFile), append(cj, '\n'))
}

// jsonFloat32 writes a float32 with the fewest digits that read back to it,
// always as a JSON float (with a point or an exponent).
func jsonFloat32(v float32) json.Number {
	s := strconv.FormatFloat(float64(v), 'g', -1, 32)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return json.Number(s)
}

// tensorSpec is one tensor to write: Fill writes its row-major float32
// values into dst (len = numel(Shape)), so tensors are produced one at a
// time and never all held at once.
type tensorSpec struct {
	Name  string
	Shape []int
	Fill  func(dst []float32)
}

// writeSafetensorsAs writes specs as a safetensors file of dtype F32, BF16
// or F16 (round to nearest even) with meta, through a temporary file in the
// same folder that is synced and renamed over path.
func writeSafetensorsAs(path string, specs []tensorSpec, meta map[string]string, dtype string) (err error) {
	size := dtypeSize(dtype)
	if dtype != "F32" && dtype != "BF16" && dtype != "F16" {
		return fmt.Errorf("safetensors %s: cannot write dtype %q", path, dtype)
	}
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	maxN := 0
	for _, s := range specs {
		if s.Name == "__metadata__" || header[s.Name] != nil {
			return fmt.Errorf("safetensors %s: duplicate or reserved tensor name %q", path, s.Name)
		}
		end := off + int64(size*numel(s.Shape))
		header[s.Name] = safeEntry{DType: dtype, Shape: append([]int{}, s.Shape...), DataOffsets: [2]int64{off, end}}
		off, maxN = end, max(maxN, numel(s.Shape))
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(hj))))
	w.Write(hj)
	vals := make([]float32, maxN)
	buf := make([]byte, 0, 1<<16)
	for _, s := range specs {
		v := vals[:numel(s.Shape)]
		s.Fill(v)
		for i, x := range v {
			switch dtype {
			case "F32":
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			case "BF16":
				buf = binary.LittleEndian.AppendUint16(buf, floatToBF16(x))
			default:
				buf = binary.LittleEndian.AppendUint16(buf, floatToHalf(x))
			}
			if len(buf)+4 > cap(buf) || i == len(v)-1 {
				if _, err = w.Write(buf); err != nil {
					return fmt.Errorf("safetensors %s: %w", path, err)
				}
				buf = buf[:0]
			}
		}
	}
	if err = w.Flush(); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	return err
}

// floatToBF16 rounds a float32 to bfloat16 bits, to nearest even (NaN stays
// a quiet NaN).
func floatToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// floatToHalf rounds a float32 to IEEE binary16 bits, to nearest even:
// overflow gives ±Inf, tiny values subnormals or ±0, NaN a quiet NaN.
func floatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff && man != 0:
		return sign | 0x7e00
	case exp == 0xff:
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 { // subnormal half (or zero): shift the full mantissa down
		if e < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - e)
		h := man >> shift
		rem := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent, up to Inf: still correct
	}
	return sign | uint16(h)
}
