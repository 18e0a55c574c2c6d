package model

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
)

// optimInUse is the optim pool's bytes in use on m's engine.
func optimInUse(m *Model) int64 {
	for _, ps := range m.B.PoolStats() {
		if ps.Pool == backend.Optim {
			return ps.InUse
		}
	}
	return -1
}

// allZero reports whether t holds only zeros.
func allZero(b backend.Backend, t backend.Tensor) bool {
	h := download(b, t)
	return slices.Min(h) == 0 && slices.Max(h) == 0
}

// TestTrainStateLazy: a new model has no gradients or moments and nothing
// in the optim pool; Backward refuses it with an error; EnsureTrainState
// allocates 3 zeroed F32 tensors a parameter, once; each of ZeroGrads,
// HeadGrad and Grads allocates the state itself.
func TestTrainStateLazy(t *testing.T) {
	m := tinyModel(t, false, true, 3)
	if m.HasTrainState() || optimInUse(m) != 0 {
		t.Fatalf("new model: train state %v, optim pool %d B in use; want none", m.HasTrainState(), optimInUse(m))
	}
	for _, p := range m.Params {
		if p.G != nil || p.M != nil || p.V != nil {
			t.Fatalf("%s: G, M or V allocated by New", p.Name)
		}
	}
	const B, T = 2, 5
	ids := make([]int32, B*T)
	for i := range ids {
		ids[i] = int32(i % testVocab)
	}
	a, err := m.Forward(ids, B, T)
	if err != nil {
		t.Fatal(err)
	}
	dh := m.act(B*T, m.Cfg.Dim)
	m.B.Fill(dh, 0.01)
	if err := m.Backward(a, dh); err == nil || !strings.Contains(err.Error(), "EnsureTrainState") {
		t.Errorf("Backward without train state: error %v, want one naming EnsureTrainState", err)
	}

	m.EnsureTrainState()
	want := 3 * 4 * m.Cfg.NumParams()
	if !m.HasTrainState() || optimInUse(m) != want {
		t.Fatalf("after EnsureTrainState: train state %v, optim pool %d B, want %d", m.HasTrainState(), optimInUse(m), want)
	}
	for _, p := range m.Params {
		if !allZero(m.B, p.G) || !allZero(m.B, p.M) || !allZero(m.B, p.V) {
			t.Errorf("%s: G, M or V not zero-filled", p.Name)
		}
	}
	p0 := m.Params[0]
	g0, m0 := p0.G, p0.M
	m.B.Fill(p0.M, 0.5)
	m.EnsureTrainState()
	if p0.G != g0 || p0.M != m0 || optimInUse(m) != want || slices.Max(download(m.B, p0.M)) != 0.5 {
		t.Errorf("second EnsureTrainState reallocated or cleared the state (optim pool %d B)", optimInUse(m))
	}
	if err := m.Backward(a, dh); err != nil {
		t.Errorf("Backward after EnsureTrainState: %v", err)
	}
	if allZero(m.B, m.Param("model.norm.weight").G) {
		t.Error("Backward left the final norm's gradient at zero")
	}
	if err := m.B.Err(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		call func(*Model)
	}{
		{"ZeroGrads", func(m *Model) { m.ZeroGrads() }},
		{"HeadGrad", func(m *Model) { m.HeadGrad() }},
		{"Grads", func(m *Model) { m.Grads() }},
	} {
		m := tinyModel(t, true, false, 4)
		tc.call(m)
		if !m.HasTrainState() || optimInUse(m) != 3*4*m.Cfg.NumParams() {
			t.Errorf("%s on a new model: train state %v, optim pool %d B", tc.name, m.HasTrainState(), optimInUse(m))
		}
	}
}

// TestCheckpointWithoutTrainState: SaveCheckpoint with withOptim on a model
// that never trained writes no moments, and the loaded model has none;
// LoadWeights with optim zeroes moments a file lacks and keeps them without
// optim.
func TestCheckpointWithoutTrainState(t *testing.T) {
	m := tinyModel(t, true, false, 8)
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := m.SaveCheckpoint(path, nil, true); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Names()) != len(m.Params) || hasMoments(f) {
		t.Errorf("file holds %d tensors (moments %v), want the %d weights only", len(f.Names()), hasMoments(f), len(m.Params))
	}
	m2, _, err := LoadCheckpoint(m.B, path)
	if err != nil {
		t.Fatal(err)
	}
	if m2.HasTrainState() || m.HasTrainState() {
		t.Errorf("train state after save/load: saved model %v, loaded %v", m.HasTrainState(), m2.HasTrainState())
	}

	m2.EnsureTrainState()
	for _, p := range m2.Params {
		m2.B.Fill(p.M, 1)
		m2.B.Fill(p.V, 2)
	}
	if err := m2.LoadWeights(f, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range m2.Params {
		if slices.Min(download(m2.B, p.M)) != 1 || slices.Min(download(m2.B, p.V)) != 2 {
			t.Fatalf("%s: LoadWeights without optim changed the moments", p.Name)
		}
	}
	if err := m2.LoadWeights(f, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range m2.Params {
		if !allZero(m2.B, p.M) || !allZero(m2.B, p.V) {
			t.Fatalf("%s: LoadWeights with optim kept moments the file lacks", p.Name)
		}
	}
}
