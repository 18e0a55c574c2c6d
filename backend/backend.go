// Package backend defines the engine interface that the model, the rollout
// engine, the method and the training loops speak: opaque tensors that may
// live on a device, two dtypes, allocation from named memory pools, explicit
// upload and download, and the op set of DESIGN.md §3.
//
// Ops are enqueued in order. On a GPU they run asynchronously on one stream;
// a failure inside an op (a bad shape, a launch error) is recorded as the
// engine's sticky error, returned by Sync and Err, and every later op is a
// no-op until the engine is discarded. Download and Sync wait for the queue.
//
// Layout conventions (row-major, last index fastest):
//   - activations are [N, C] with N = B*T tokens, or [B, T, H, D] for heads;
//   - a linear layer's weight is [Out, In] (as in PyTorch and Hugging Face),
//     so y = x · Wᵀ is MatMul with TransB;
//   - token ids, positions, block tables and lengths are I32 tensors.
package backend

import (
	"errors"
	"fmt"
)

// DType is the element type of a tensor.
type DType int

const (
	// F32 is IEEE float32.
	F32 DType = iota
	// BF16 is bfloat16 (the top half of a float32). The CPU engine stores it
	// rounded to nearest-even and computes in float32.
	BF16
	// I32 is int32, used for token ids, positions and index tables.
	I32
)

// String names the dtype as configs and reports spell it.
func (d DType) String() string {
	switch d {
	case F32:
		return "fp32"
	case BF16:
		return "bf16"
	case I32:
		return "i32"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	if d == BF16 {
		return 2
	}
	return 4
}

// Pool names a memory pool. Every allocation comes from one.
type Pool string

// The pools of DESIGN.md §4.
const (
	Weights     Pool = "weights"     // parameters (fp32 master on CPU; bf16 working copy on GPU)
	Optim       Pool = "optim"       // gradients and AdamW moments
	Activations Pool = "activations" // reset every micro-step
	KV          Pool = "kv"          // paged KV-cache blocks
	Replay      Pool = "replay"      // corrected trajectories kept for reuse
)

// Pools lists every pool in a fixed order (for reports).
var Pools = []Pool{Weights, Optim, Activations, KV, Replay}

// Tensor is an opaque handle to engine memory. Only the engine that made it
// may read or write it.
type Tensor interface {
	Shape() []int
	DType() DType
	Pool() Pool
	// Len is the number of elements (the product of Shape).
	Len() int
}

// PoolStats reports one pool's use in bytes.
type PoolStats struct {
	Pool      Pool  `json:"pool"`
	Capacity  int64 `json:"capacity_bytes"` // 0 = grows on demand (CPU engine)
	InUse     int64 `json:"in_use_bytes"`
	HighWater int64 `json:"high_water_bytes"`
}

// MatMulParams describes C = alpha · op(A) · op(B) + beta · C, batched over
// the leading dimension when A, B and C are rank 3 (a rank-2 B is shared by
// every batch). op(X) is X or Xᵀ.
type MatMulParams struct {
	TransA, TransB bool
	Alpha, Beta    float32
}

// AttnParams describes causal grouped-query attention over [B, T, H, D]
// queries and [B, T, KVH, D] keys and values (H a multiple of KVH; query
// head h reads KV head h / (H/KVH)). Scale is 1/sqrt(D) when zero.
type AttnParams struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32
}

// PagedKV describes a paged KV cache: K and V are [NumBlocks, BlockSize,
// KVHeads, HeadDim]; BlockTable is I32 [B, MaxBlocks] (block ids of each
// sequence in order); SeqLens is I32 [B] (tokens in the cache per sequence,
// including the one being decoded after KVAppend).
type PagedKV struct {
	K, V       Tensor
	BlockTable Tensor
	SeqLens    Tensor
	BlockSize  int
}

// SampleParams controls sampling from logits. Temperature 0 is greedy.
// TopK 0 and TopP 1 disable those filters.
type SampleParams struct {
	Temperature float32
	TopK        int
	TopP        float32
}

// PGMode selects what PGLossForward computes per token.
type PGMode int

const (
	// PGLogProbOnly computes log-probs, entropy and lse; Coef is left for the
	// caller to fill (sequence-level losses such as GSPO, or evaluation).
	PGLogProbOnly PGMode = iota
	// PGTokenClip computes the clipped per-token policy-gradient loss
	//   ℓ_t = −W_t · min(ρ_t A_t, clip(ρ_t, 1−ε_low, 1+ε_high) A_t) + Beta·W_t·k3_t
	// with ρ_t = exp(logp_t − oldlogp_t), and Coef_t = ∂ℓ_t/∂logp_t.
	// SFT is this mode with A = 1 and oldlogp = logp (ρ = 1, so ℓ = −W·logp-like
	// gradient): use PGNLL for the plain NLL instead.
	PGTokenClip
	// PGNLL computes ℓ_t = −W_t · logp_t (SFT), Coef_t = −W_t.
	PGNLL
)

// PGLossIn is the input of the fused LM-head + log-softmax + policy-gradient
// loss op. Hidden is [N, d] (final-norm output), Head is the LM head [V, d];
// Targets I32 [N]. Adv, OldLogp, RefLogp and Weight are F32 [N]; Weight
// carries gate × normaliser (0 drops a token). RefLogp may be nil (no KL).
type PGLossIn struct {
	Hidden, Head, Targets Tensor
	Adv, OldLogp, RefLogp Tensor
	Weight                Tensor
	Mode                  PGMode
	EpsLow, EpsHigh, Beta float32
	// ChunkV is the vocabulary chunk width (0 = engine default). The N×V
	// logits are never stored whole.
	ChunkV int
}

// PGLossOut receives per-token results, each F32 [N]. Clip holds −1 where the
// low clip was active, +1 where the high clip was active, 0 elsewhere.
// KL holds the k3 estimate against RefLogp (zero without it).
type PGLossOut struct {
	Logp, Entropy, LSE, Loss, Coef, Clip, KL Tensor
}

// AdamWParams is one AdamW update. Step is 1-based (bias correction).
type AdamWParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Step                               int
}

// Backend is an engine: memory and the op set. All methods that enqueue work
// record failures in the sticky error (see the package comment).
type Backend interface {
	// Name is "cpu" or "cuda".
	Name() string
	// Device describes the hardware in words.
	Device() string

	// Memory.
	Alloc(p Pool, dt DType, shape ...int) Tensor
	Free(t Tensor)
	// ResetPool frees every tensor of a pool at once (the activations arena).
	ResetPool(p Pool)
	PoolStats() []PoolStats
	Upload(dst Tensor, src []float32)
	UploadI32(dst Tensor, src []int32)
	Download(src Tensor, dst []float32)
	DownloadI32(src Tensor, dst []int32)
	// Copy copies src into dst (same element count and dtype class).
	Copy(dst, src Tensor)
	// CopyRange copies n elements: dst[dstOff+i] = src[srcOff+i] for i < n
	// (flat element offsets; same dtype), so part of a tensor moves without
	// a download.
	CopyRange(dst Tensor, dstOff int, src Tensor, srcOff, n int)
	Fill(t Tensor, v float32)
	Sync() error
	Err() error

	// MatMul computes c = alpha·op(a)·op(b) + beta·c.
	MatMul(c, a, b Tensor, p MatMulParams)
	// Add: out = a + b (elementwise; out may alias a or b).
	Add(out, a, b Tensor)
	// Scale multiplies t by s in place.
	Scale(t Tensor, s float32)
	// AddBias adds bias [C] to every row of x [N, C] in place.
	AddBias(x, bias Tensor)
	// BiasBackward accumulates dbias[c] += Σ_n dout[n, c].
	BiasBackward(dbias, dout Tensor)

	// EmbeddingForward: out[i] = table[ids[i]]; table [V, d], ids I32 [N].
	EmbeddingForward(out, table, ids Tensor)
	// EmbeddingBackward: dtable[ids[i]] += dout[i] (accumulates).
	EmbeddingBackward(dtable, dout, ids Tensor)

	// RMSNormForward: out = x / rms(x) · w over the last dim; rstd [N] saved.
	RMSNormForward(out, rstd, x, w Tensor, eps float32)
	// RMSNormBackward: dx = ∂, dw += ∂ (dw accumulates).
	RMSNormBackward(dx, dw, dout, x, w, rstd Tensor)

	// RoPEForward rotates x [N, heads, headDim] in place at positions pos
	// (I32 [N]) in the rotate-half layout of Hugging Face Llama.
	RoPEForward(x, pos Tensor, heads, headDim int, theta float32)
	// RoPEBackward applies the inverse rotation to the gradient in place.
	RoPEBackward(dx, pos Tensor, heads, headDim int, theta float32)

	// SwiGLUForward: out = silu(gate) · up.
	SwiGLUForward(out, gate, up Tensor)
	// SwiGLUBackward: dgate, dup from dout (overwrites).
	SwiGLUBackward(dgate, dup, dout, gate, up Tensor)

	// AttentionForward: causal attention; out [B,T,H,D], lse F32 [B,H,T].
	AttentionForward(out, lse, q, k, v Tensor, p AttnParams)
	// AttentionBackward writes dq, dk, dv (overwrites).
	AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v Tensor, p AttnParams)

	// KVAppend writes k, v [B, KVH, D] (one new token per sequence) into the
	// paged cache at position SeqLens[b]−1 of sequence b.
	KVAppend(cache PagedKV, k, v Tensor)
	// DecodeAttention: q [B, H, D] (one token per sequence) attends to the
	// SeqLens[b] cached tokens of its sequence; out [B, H, D].
	DecodeAttention(out, q Tensor, cache PagedKV, p AttnParams)

	// Sample draws one token per row of logits [B, V] with the uniforms u
	// (F32 [B], in [0,1), supplied by the caller so that runs reproduce) and
	// writes tokens (I32 [B]) and their log-probabilities under the
	// temperature-scaled, unfiltered distribution (F32 [B]).
	Sample(tokens, logprobs, logits, u Tensor, p SampleParams)

	// PGLossForward is the fused LM head + log-softmax + gather + loss.
	PGLossForward(out PGLossOut, in PGLossIn)
	// PGLossBackward: given Coef = ∂L/∂logp_t (and the saved LSE), writes
	// dHidden [N, d] (overwrites) and accumulates dHead [V, d].
	PGLossBackward(dHidden, dHead Tensor, in PGLossIn, lse, coef Tensor)

	// AdamW updates param in place from grad with moments m, v.
	AdamW(param, grad, m, v Tensor, p AdamWParams)
	// SumSquares returns Σ x² over all tensors (for the gradient norm).
	SumSquares(ts ...Tensor) float64

	// Close releases the engine's memory and device (a no-op on the CPU
	// engine); the engine is unusable afterwards.
	Close() error
}

// ErrNoCUDA is returned when the cuda engine is asked for in a binary built
// without the cuda tag, or on a machine without a GPU.
var ErrNoCUDA = errors.New("this binary was built without CUDA (rebuild with -tags cuda)")

// Numel returns the product of a shape.
func Numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}
