package model

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gorgonia.org/tensor"
)

// NamedTensor is one host tensor for checkpoint I/O: row-major float32 data.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Dense wraps the data (no copy) as a gorgonia dense tensor, the host tensor
// type of the house.
func (t NamedTensor) Dense() *tensor.Dense {
	return tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.Data))
}

// dtypeSize is the element size of a safetensors dtype (0 when unknown).
func dtypeSize(dt string) int {
	switch dt {
	case "BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2":
		return 1
	case "U16", "I16", "F16", "BF16":
		return 2
	case "U32", "I32", "F32":
		return 4
	case "U64", "I64", "F64":
		return 8
	}
	return 0
}

// safeEntry is one tensor's header record.
type safeEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// SafeFile is a safetensors file read into memory: its metadata and its
// tensors, decoded to float32 on request.
type SafeFile struct {
	Path    string
	Meta    map[string]string
	names   []string // in data order
	entries map[string]safeEntry
	data    []byte // the data section
}

// WriteSafetensors writes tensors as F32 (in the given order) with the
// metadata to path: to a temporary file in the same folder, synced, then
// renamed over path, so an existing file is never left half written.
func WriteSafetensors(path string, tensors []NamedTensor, meta map[string]string) (err error) {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "__metadata__" || header[t.Name] != nil {
			return fmt.Errorf("safetensors %s: duplicate or reserved tensor name %q", path, t.Name)
		}
		if n := numel(t.Shape); n != len(t.Data) {
			return fmt.Errorf("safetensors %s: tensor %s has shape %v (%d elements) but %d values", path, t.Name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		end := off + 4*int64(len(t.Data))
		header[t.Name] = safeEntry{DType: "F32", Shape: shape, DataOffsets: [2]int64{off, end}}
		off = end
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	for len(hj)%8 != 0 { // align the data section as the reference writer does
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
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hj)))
	w.Write(lenBuf[:])
	w.Write(hj)
	buf := make([]byte, 0, 1<<16)
	for _, t := range tensors {
		for i, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) || i == len(t.Data)-1 {
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("safetensors %s: %w", path, err)
				}
				buf = buf[:0]
			}
		}
	}
	if err = w.Flush(); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// ReadSafetensors reads and checks a safetensors file: a truncated file, a
// bad header, offsets out of range or an unknown dtype are errors that name
// the file.
func ReadSafetensors(path string) (*SafeFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	return parseSafetensors(path, raw)
}

func parseSafetensors(path string, raw []byte) (*SafeFile, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("safetensors %s: "+format, append([]any{path}, a...)...)
	}
	if len(raw) < 8 {
		return nil, bad("truncated file: %d bytes, no header length", len(raw))
	}
	hlen := binary.LittleEndian.Uint64(raw[:8])
	if hlen > uint64(len(raw)-8) {
		return nil, bad("truncated file: header of %d bytes but only %d bytes follow", hlen, len(raw)-8)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hlen], &header); err != nil {
		return nil, bad("bad header JSON: %v", err)
	}
	f := &SafeFile{Path: path, Meta: map[string]string{}, entries: map[string]safeEntry{}, data: raw[8+hlen:]}
	for name, msg := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Meta); err != nil {
				return nil, bad("bad __metadata__ (must map strings to strings): %v", err)
			}
			continue
		}
		var e safeEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, bad("bad header entry for tensor %s: %v", name, err)
		}
		size := dtypeSize(e.DType)
		if size == 0 {
			return nil, bad("tensor %s has unknown dtype %q", name, e.DType)
		}
		n := int64(1)
		for _, s := range e.Shape {
			if s < 0 {
				return nil, bad("tensor %s has negative dimension in shape %v", name, e.Shape)
			}
			n *= int64(s)
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || end < b || end > int64(len(f.data)) {
			return nil, bad("tensor %s: data offsets [%d, %d] out of range (data section is %d bytes; truncated file?)", name, b, end, len(f.data))
		}
		if end-b != n*int64(size) {
			return nil, bad("tensor %s: %d bytes for shape %v of %s (want %d)", name, end-b, e.Shape, e.DType, n*int64(size))
		}
		f.entries[name] = e
		f.names = append(f.names, name)
	}
	sort.Slice(f.names, func(i, j int) bool {
		a, b := f.entries[f.names[i]].DataOffsets[0], f.entries[f.names[j]].DataOffsets[0]
		return a < b || a == b && f.names[i] < f.names[j]
	})
	return f, nil
}

// Names lists the tensors in data order.
func (f *SafeFile) Names() []string { return append([]string(nil), f.names...) }

// Has reports whether the file holds a tensor of that name.
func (f *SafeFile) Has(name string) bool { _, ok := f.entries[name]; return ok }

// Info returns a tensor's dtype and shape.
func (f *SafeFile) Info(name string) (dtype string, shape []int, ok bool) {
	e, ok := f.entries[name]
	return e.DType, append([]int(nil), e.Shape...), ok
}

// Tensor decodes one tensor to float32 (F32, BF16, F16 and F64 are
// supported).
func (f *SafeFile) Tensor(name string) (NamedTensor, error) {
	e, ok := f.entries[name]
	if !ok {
		return NamedTensor{}, fmt.Errorf("safetensors %s: no tensor %s", f.Path, name)
	}
	src := f.data[e.DataOffsets[0]:e.DataOffsets[1]]
	out := make([]float32, numel(e.Shape))
	switch e.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case "F16":
		for i := range out {
			out[i] = halfToFloat(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		return NamedTensor{}, fmt.Errorf("safetensors %s: tensor %s has dtype %s, which cannot be read as float (F32, BF16, F16, F64)", f.Path, name, e.DType)
	}
	return NamedTensor{Name: name, Shape: append([]int(nil), e.Shape...), Data: out}, nil
}

// halfToFloat converts an IEEE binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or nan
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac · 2⁻²⁴
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}
