package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sirl-dev/sirl/backend"
)

// Param is one parameter tensor under its Hugging Face name. W lives in the
// weights pool; its gradient G and the AdamW moments M and V in the optim
// pool. G, M and V are nil until Model.EnsureTrainState (inference never
// needs them). Gradients accumulate until ZeroGrads.
type Param struct {
	Name       string
	Shape      []int
	W, G, M, V backend.Tensor
}

// layer holds one decoder block's parameters; the biases are nil without
// Config.QKVBias.
type layer struct {
	attnNorm, q, qb, k, kb, v, vb, o *Param
	mlpNorm, gate, up, down          *Param
}

// Model is a Llama-style decoder on a backend: token embedding, Layers
// blocks of (RMSNorm, grouped-query attention with RoPE, residual, RMSNorm,
// SwiGLU MLP, residual), a final RMSNorm and an LM head. A Model is not safe
// for concurrent use (it keeps host scratch buffers).
type Model struct {
	Cfg    Config
	B      backend.Backend
	Params []*Param

	embed, norm, head *Param // head is nil when tied
	layers            []layer
	byName            map[string]*Param

	idsBuf, posBuf []int32 // host scratch for uploads
}

// New allocates a model on b and initialises it deterministically from
// seed: matrices (and the embedding) from normal(0, InitStd), o_proj and
// down_proj further scaled by 1/sqrt(2·Layers), norm weights 1, biases 0.
// Gradients and moments are not allocated: call EnsureTrainState to train.
func New(b backend.Backend, cfg Config, seed uint64) (*Model, error) {
	m, err := alloc(b, cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x5349524c)) // "SIRL"
	std := float64(cfg.initStd())
	resid := std / math.Sqrt(2*float64(cfg.Layers))
	var host []float32
	for _, p := range m.Params {
		n := p.W.Len()
		if cap(host) < n {
			host = make([]float32, n)
		}
		h := host[:n]
		switch {
		case strings.HasSuffix(p.Name, "norm.weight"):
			fill(h, 1)
		case strings.HasSuffix(p.Name, ".bias"):
			fill(h, 0)
		default:
			s := std
			if strings.HasSuffix(p.Name, "o_proj.weight") || strings.HasSuffix(p.Name, "down_proj.weight") {
				s = resid
			}
			for i := range h {
				h[i] = float32(rng.NormFloat64() * s)
			}
		}
		b.Upload(p.W, h)
	}
	return m, b.Err()
}

func fill(h []float32, v float32) {
	for i := range h {
		h[i] = v
	}
}

// alloc builds a model with allocated but uninitialised weights and no
// gradients or moments.
func alloc(b backend.Backend, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("model: nil backend")
	}
	m := &Model{Cfg: cfg, B: b, byName: map[string]*Param{}}
	for _, s := range cfg.paramShapes() {
		p := &Param{Name: s.name, Shape: s.shape, W: b.Alloc(backend.Weights, backend.F32, s.shape...)}
		m.Params = append(m.Params, p)
		m.byName[s.name] = p
	}
	m.embed = m.byName["model.embed_tokens.weight"]
	m.norm = m.byName["model.norm.weight"]
	m.head = m.byName["lm_head.weight"]
	m.layers = make([]layer, cfg.Layers)
	for l := range m.layers {
		g := func(s string) *Param { return m.byName[fmt.Sprintf("model.layers.%d.%s", l, s)] }
		m.layers[l] = layer{
			attnNorm: g("input_layernorm.weight"),
			q:        g("self_attn.q_proj.weight"), qb: g("self_attn.q_proj.bias"),
			k: g("self_attn.k_proj.weight"), kb: g("self_attn.k_proj.bias"),
			v: g("self_attn.v_proj.weight"), vb: g("self_attn.v_proj.bias"),
			o:       g("self_attn.o_proj.weight"),
			mlpNorm: g("post_attention_layernorm.weight"),
			gate:    g("mlp.gate_proj.weight"),
			up:      g("mlp.up_proj.weight"),
			down:    g("mlp.down_proj.weight"),
		}
	}
	return m, b.Err()
}

// Param returns the parameter with the given Hugging Face name, or nil.
func (m *Model) Param(name string) *Param { return m.byName[name] }

// Head is the LM head weight [Vocab, Dim]: the embedding when tied.
func (m *Model) Head() backend.Tensor {
	if m.head == nil {
		return m.embed.W
	}
	return m.head.W
}

// EnsureTrainState allocates, in the optim pool, the gradient G and the
// AdamW moments M and V of every parameter that lacks them, zero-filled. It
// is idempotent: tensors already there (and their contents) are kept. An
// allocation failure is reported by the backend's Err.
func (m *Model) EnsureTrainState() {
	for _, p := range m.Params {
		for _, t := range []*backend.Tensor{&p.G, &p.M, &p.V} {
			if *t == nil {
				*t = m.B.Alloc(backend.Optim, backend.F32, p.Shape...)
				m.B.Fill(*t, 0)
			}
		}
	}
}

// HasTrainState reports whether every parameter has its gradient and AdamW
// moments (EnsureTrainState has run).
func (m *Model) HasTrainState() bool {
	for _, p := range m.Params {
		if p.G == nil || p.M == nil || p.V == nil {
			return false
		}
	}
	return true
}

// HeadGrad is the gradient of Head (the embedding's gradient when tied), into
// which the caller's PGLossBackward accumulates. It calls EnsureTrainState.
func (m *Model) HeadGrad() backend.Tensor {
	m.EnsureTrainState()
	if m.head == nil {
		return m.embed.G
	}
	return m.head.G
}

// ZeroGrads sets every parameter gradient to zero. It calls
// EnsureTrainState, so it is also how a training loop allocates its state.
func (m *Model) ZeroGrads() {
	m.EnsureTrainState()
	for _, p := range m.Params {
		m.B.Fill(p.G, 0)
	}
}

// Grads lists every parameter gradient (for the gradient norm). It calls
// EnsureTrainState.
func (m *Model) Grads() []backend.Tensor {
	m.EnsureTrainState()
	gs := make([]backend.Tensor, len(m.Params))
	for i, p := range m.Params {
		gs[i] = p.G
	}
	return gs
}

// act allocates an F32 activation.
func (m *Model) act(shape ...int) backend.Tensor {
	return m.B.Alloc(backend.Activations, backend.F32, shape...)
}

// actI32 allocates an I32 activation and uploads src into it.
func (m *Model) actI32(src []int32) backend.Tensor {
	t := m.B.Alloc(backend.Activations, backend.I32, len(src))
	m.B.UploadI32(t, src)
	return t
}

// linear computes out = x · Wᵀ (+ bias) for x [N, In], W [Out, In].
func (m *Model) linear(out, x backend.Tensor, w, bias *Param) {
	m.B.MatMul(out, x, w.W, backend.MatMulParams{TransB: true, Alpha: 1})
	if bias != nil {
		m.B.AddBias(out, bias.W)
	}
}

// linearBackward accumulates dW += doutᵀ · x (and dbias), and writes
// dx = dout · W, or adds it when accumulate is set.
func (m *Model) linearBackward(dx, dout, x backend.Tensor, w, bias *Param, accumulate bool) {
	m.B.MatMul(w.G, dout, x, backend.MatMulParams{TransA: true, Alpha: 1, Beta: 1})
	if bias != nil {
		m.B.BiasBackward(bias.G, dout)
	}
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	m.B.MatMul(dx, dout, w.W, backend.MatMulParams{Alpha: 1, Beta: beta})
}

// checkTokens returns an error for ids outside the vocabulary.
func (m *Model) checkTokens(ids []int32) error {
	for i, id := range ids {
		if id < 0 || int(id) >= m.Cfg.Vocab {
			return fmt.Errorf("model: token %d at index %d is outside the vocabulary [0, %d)", id, i, m.Cfg.Vocab)
		}
	}
	return nil
}

// grow returns buf resized to n, reusing its storage.
func grow(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	return buf[:n]
}
