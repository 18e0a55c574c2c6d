package model

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
)

// bitsEqual reports whether two float32 slices are bitwise identical.
func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func TestCheckpointRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		tied, bias, optim bool
	}{{true, false, true}, {false, true, true}, {false, true, false}} {
		m := tinyModel(t, tc.tied, tc.bias, 21)
		m.EnsureTrainState()
		r := rand.New(rand.NewPCG(1, 1))
		for _, p := range m.Params { // non-trivial moments
			h := make([]float32, p.M.Len())
			for i := range h {
				h[i] = r.Float32()
			}
			m.B.Upload(p.M, h)
			m.B.Upload(p.V, h[:p.V.Len()])
		}
		path := filepath.Join(t.TempDir(), "ckpt.safetensors")
		if err := m.SaveCheckpoint(path, map[string]string{"step": "17"}, tc.optim); err != nil {
			t.Fatal(err)
		}
		m2, meta, err := LoadCheckpoint(cpu.New(2), path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m2.Cfg, m.Cfg) {
			t.Errorf("config %+v, want %+v", m2.Cfg, m.Cfg)
		}
		if meta["step"] != "17" || meta[MetaFormat] != CheckpointFormat {
			t.Errorf("meta %v lacks step or format", meta)
		}
		if len(m2.Params) != len(m.Params) {
			t.Fatalf("%d params, want %d", len(m2.Params), len(m.Params))
		}
		if m2.HasTrainState() != tc.optim {
			t.Errorf("optim %v: loaded model has train state %v", tc.optim, m2.HasTrainState())
		}
		for i, p := range m.Params {
			q := m2.Params[i]
			if q.Name != p.Name || !bitsEqual(download(m2.B, q.W), download(m.B, p.W)) {
				t.Errorf("%s: weights differ after the round trip", p.Name)
			}
			if !tc.optim {
				continue
			}
			wantM := download(m.B, p.M)
			if !bitsEqual(download(m2.B, q.M), wantM) || !bitsEqual(download(m2.B, q.V), wantM) {
				t.Errorf("%s: moments differ after the round trip", p.Name)
			}
			if g := download(m2.B, q.G); slices.Min(g) != 0 || slices.Max(g) != 0 {
				t.Errorf("%s: loaded gradient not zero", p.Name)
			}
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
			t.Errorf("folder holds %d files after save, want 1 (no temp file left)", len(entries))
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	m := tinyModel(t, true, false, 2)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := m.SaveCheckpoint(good, nil, false); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	hlen := binary.LittleEndian.Uint64(raw)

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	header := func(js string) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
		return append(b, js...)
	}
	// A tensor whose shape does not match the model's.
	f, _ := ReadSafetensors(good)
	var ts []NamedTensor
	for _, n := range f.Names() {
		nt, _ := f.Tensor(n)
		if n == "model.norm.weight" {
			nt.Shape = []int{2, nt.Shape[0] / 2}
		}
		ts = append(ts, nt)
	}
	shapePath := filepath.Join(dir, "shape.safetensors")
	if err := WriteSafetensors(shapePath, ts, f.Meta); err != nil {
		t.Fatal(err)
	}
	noCfg := filepath.Join(dir, "nocfg.safetensors")
	if err := WriteSafetensors(noCfg, ts[:1], map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"truncated data", write("trunc.safetensors", raw[:len(raw)-10]), "truncated"},
		{"truncated header", write("trunch.safetensors", raw[:8+hlen/2]), "truncated"},
		{"no length", write("short.safetensors", raw[:5]), "truncated"},
		{"bad json", write("bad.safetensors", header(`{"a": [1, 2`)), "bad header JSON"},
		{"bad dtype", write("dtype.safetensors", header(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`)), `unknown dtype "Q4"`},
		{"offsets", write("off.safetensors", append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), 0, 0, 0, 0)), "out of range"},
		{"size", write("size.safetensors", append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`), 0, 0, 0, 0)), "want 8"},
		{"shape", shapePath, "model.norm.weight has shape [2 16], the model wants [32]"},
		{"no config", noCfg, "no \"config\""},
		{"missing", filepath.Join(dir, "none.safetensors"), "no such file"},
	} {
		_, _, err := LoadCheckpoint(cpu.New(1), tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", tc.name, err, tc.path, tc.want)
		}
	}
}

func TestSafetensorsDTypes(t *testing.T) {
	// 1, −2, 2⁻²⁴ (smallest subnormal), +inf in F16; 1.5, −0.25 in BF16.
	f16 := []uint16{0x3c00, 0xc000, 0x0001, 0x7c00}
	bf16 := []uint16{0x3fc0, 0xbe80}
	js := `{"__metadata__":{"k":"v"},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},` +
		`"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"i":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}}`
	raw := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	raw = append(raw, js...)
	for _, v := range append(f16, bf16...) {
		raw = binary.LittleEndian.AppendUint16(raw, v)
	}
	raw = binary.LittleEndian.AppendUint64(raw, 7)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	os.WriteFile(path, raw, 0o644)
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta["k"] != "v" || !slices.Equal(f.Names(), []string{"h", "b", "i"}) {
		t.Errorf("meta %v names %v", f.Meta, f.Names())
	}
	h, err := f.Tensor("h")
	if want := []float32{1, -2, float32(math.Ldexp(1, -24)), float32(math.Inf(1))}; err != nil || !slices.Equal(h.Data, want) || !slices.Equal(h.Shape, []int{2, 2}) {
		t.Errorf("F16: %v %v, err %v; want %v", h.Data, h.Shape, err, want)
	}
	if b, err := f.Tensor("b"); err != nil || !slices.Equal(b.Data, []float32{1.5, -0.25}) {
		t.Errorf("BF16: %v, err %v", b.Data, err)
	}
	if _, err := f.Tensor("i"); err == nil || !strings.Contains(err.Error(), "I64") {
		t.Errorf("I64 as float: error %v", err)
	}
	if d := h.Dense(); !slices.Equal(d.Shape(), []int{2, 2}) {
		t.Errorf("dense shape %v", d.Shape())
	}
}

func TestInitDeterministic(t *testing.T) {
	a, b, c := tinyModel(t, false, true, 5), tinyModel(t, false, true, 5), tinyModel(t, false, true, 6)
	for i, p := range a.Params {
		wa, wb, wc := download(a.B, p.W), download(b.B, b.Params[i].W), download(c.B, c.Params[i].W)
		if !bitsEqual(wa, wb) {
			t.Errorf("%s: same seed, different weights", p.Name)
		}
		random := !strings.HasSuffix(p.Name, "norm.weight") && !strings.HasSuffix(p.Name, ".bias")
		if random == bitsEqual(wa, wc) {
			t.Errorf("%s: different seeds give equal=%v weights", p.Name, !random)
		}
		switch {
		case strings.HasSuffix(p.Name, "norm.weight"):
			if slices.Min(wa) != 1 || slices.Max(wa) != 1 {
				t.Errorf("%s: norm weights not all 1", p.Name)
			}
		case strings.HasSuffix(p.Name, ".bias"):
			if slices.Min(wa) != 0 || slices.Max(wa) != 0 {
				t.Errorf("%s: biases not all 0", p.Name)
			}
		default:
			want := 0.02
			if strings.Contains(p.Name, "o_proj") || strings.Contains(p.Name, "down_proj") {
				want /= math.Sqrt(2 * float64(a.Cfg.Layers))
			}
			var ss float64
			for _, v := range wa {
				ss += float64(v) * float64(v)
			}
			if std := math.Sqrt(ss / float64(len(wa))); math.Abs(std-want) > 0.15*want {
				t.Errorf("%s: std %.4g, want %.4g", p.Name, std, want)
			}
		}
	}
}
