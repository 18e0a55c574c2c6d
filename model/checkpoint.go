package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sirl-dev/sirl/backend"
)

// Checkpoint metadata keys written by SaveCheckpoint.
const (
	MetaConfig = "config" // the Config as JSON
	MetaFormat = "format" // CheckpointFormat
	// CheckpointFormat names this layout of weights and moments.
	CheckpointFormat = "sirl-v1"
	optimM           = "optim.m."
	optimV           = "optim.v."
)

// SaveCheckpoint writes the weights under their Hugging Face names as F32
// safetensors to path (atomically: temp file, sync, rename), with meta plus
// "config" (the Config as JSON) and "format". withOptim adds the AdamW
// moments as "optim.m.<name>" and "optim.v.<name>" when the model has them
// (HasTrainState); a model that never called EnsureTrainState writes no
// moments, which LoadCheckpoint reads back as zero moments, as before.
func (m *Model) SaveCheckpoint(path string, meta map[string]string, withOptim bool) error {
	cj, err := json.Marshal(m.Cfg)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	md := maps.Clone(meta)
	if md == nil {
		md = map[string]string{}
	}
	md[MetaConfig], md[MetaFormat] = string(cj), CheckpointFormat
	var ts []NamedTensor
	add := func(name string, p *Param, t backend.Tensor) {
		data := make([]float32, t.Len())
		m.B.Download(t, data)
		ts = append(ts, NamedTensor{Name: name, Shape: slices.Clone(p.Shape), Data: data})
	}
	for _, p := range m.Params {
		add(p.Name, p, p.W)
	}
	if withOptim && m.HasTrainState() {
		for _, p := range m.Params {
			add(optimM+p.Name, p, p.M)
			add(optimV+p.Name, p, p.V)
		}
	}
	if err := m.B.Err(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return WriteSafetensors(path, ts, md)
}

// LoadCheckpoint rebuilds a model on b from a checkpoint written by
// SaveCheckpoint: the Config from the "config" metadata, the weights, and
// the moments when the file has any (then EnsureTrainState has run; moments
// absent from the file are zero). Without moments in the file the model has
// no train state. It returns the metadata too.
func LoadCheckpoint(b backend.Backend, path string) (*Model, map[string]string, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	cj, ok := f.Meta[MetaConfig]
	if !ok {
		return nil, nil, fmt.Errorf("checkpoint %s: metadata has no %q entry (not a sirl checkpoint?)", path, MetaConfig)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(cj), &cfg); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: bad config metadata: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	m, err := alloc(b, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := m.LoadWeights(f, true); err != nil {
		return nil, nil, err
	}
	return m, f.Meta, nil
}

// LoadWeights uploads every parameter from f by its Hugging Face name; a
// missing tensor or a shape mismatch is an error naming the tensor (and both
// shapes). With optim, moments found as "optim.m.<name>"/"optim.v.<name>"
// are loaded too: when the file holds any, LoadWeights calls
// EnsureTrainState and the moments it lacks are set to zero; when it holds
// none, moments the model already has are zeroed and none are allocated.
// Gradients are left as they are. Tensors the model has no use for are
// ignored.
func (m *Model) LoadWeights(f *SafeFile, optim bool) error {
	load := func(name string, p *Param, dst backend.Tensor) error {
		_, shape, ok := f.Info(name)
		if !ok {
			return fmt.Errorf("checkpoint %s: missing tensor %s", f.Path, name)
		}
		if !slices.Equal(shape, p.Shape) {
			return fmt.Errorf("checkpoint %s: tensor %s has shape %v, the model wants %v", f.Path, name, shape, p.Shape)
		}
		t, err := f.Tensor(name)
		if err != nil {
			return err
		}
		m.B.Upload(dst, t.Data)
		return nil
	}
	if optim && hasMoments(f) {
		m.EnsureTrainState()
	}
	optim = optim && m.HasTrainState()
	for _, p := range m.Params {
		if err := load(p.Name, p, p.W); err != nil {
			return err
		}
		if !optim {
			continue
		}
		for _, mv := range []struct {
			prefix string
			dst    backend.Tensor
		}{{optimM, p.M}, {optimV, p.V}} {
			if !f.Has(mv.prefix + p.Name) {
				m.B.Fill(mv.dst, 0)
				continue
			}
			if err := load(mv.prefix+p.Name, p, mv.dst); err != nil {
				return err
			}
		}
	}
	if err := m.B.Err(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", f.Path, err)
	}
	return nil
}

// hasMoments reports whether f holds any AdamW moment tensor.
func hasMoments(f *SafeFile) bool {
	for _, name := range f.Names() {
		if strings.HasPrefix(name, optimM) || strings.HasPrefix(name, optimV) {
			return true
		}
	}
	return false
}
