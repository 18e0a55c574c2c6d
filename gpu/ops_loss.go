//go:build cuda || cudaemu

package gpu

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// Sample draws one token per row of logits [B, V] (see sampling.cu for the
// procedure, the CPU engine's, done by radix select instead of a sort).
func (e *Engine) Sample(tokens, logprobs, logits, u backend.Tensor, p backend.SampleParams) {
	e.run("Sample", func() error {
		ut, err := e.getDT(u, "u", backend.F32, -1)
		if err != nil {
			return err
		}
		b := ut.n
		lg, err := e.getFloat(logits, "logits", -1)
		if err != nil {
			return err
		}
		if len(lg.shape) != 2 || lg.shape[0] != b {
			return fmt.Errorf("logits %v must be [%d, V]", lg.shape, b)
		}
		if !(p.Temperature >= 0 && p.TopK >= 0 && p.TopP >= 0 && p.TopP <= 1) {
			return fmt.Errorf("temperature %g, top-k %d, top-p %g: need T ≥ 0, k ≥ 0, 0 ≤ p ≤ 1", p.Temperature, p.TopK, p.TopP)
		}
		tok, err := e.getDT(tokens, "tokens", backend.I32, b)
		if err != nil {
			return err
		}
		lp, err := e.getDT(logprobs, "logprobs", backend.F32, b)
		if err != nil {
			return err
		}
		v := lg.shape[1]
		if v <= 0 {
			return fmt.Errorf("logits %v has no vocabulary", lg.shape)
		}
		if b == 0 {
			return nil
		}
		return e.exec(func() error {
			return e.launch("sample", dim3{b, 1, 1}, dim3{1024, 1, 1}, 0, tok.ptr, lp.ptr, lg.ptr, int(lg.dt), ut.ptr,
				b, v, p.Temperature, p.TopK, p.TopP)
		})
	})
}

// pgArgs is a validated PGLossIn.
type pgArgs struct {
	hidden, head, targets *Tensor
	adv, old, ref, weight *Tensor
	n, d, v, chunk        int
	mode                  backend.PGMode
	epsLow, epsHigh, beta float32
}

// pgDefaultChunk is the vocabulary chunk when PGLossIn.ChunkV is 0.
const pgDefaultChunk = 8192

// pgCheck validates in as the CPU engine does (Targets are not range
// checked: they are on the device; see pg_loss.cu).
func (e *Engine) pgCheck(in backend.PGLossIn) (pgArgs, error) {
	var a pgArgs
	var err error
	if a.head, err = e.getFloat(in.Head, "head", -1); err != nil {
		return a, err
	}
	if a.hidden, err = e.getFloat(in.Hidden, "hidden", -1); err != nil {
		return a, err
	}
	if len(a.head.shape) != 2 {
		return a, fmt.Errorf("head %v must be [V, d]", a.head.shape)
	}
	a.v, a.d = a.head.shape[0], a.head.shape[1]
	if a.n, err = rowsOf(a.hidden, "hidden", a.d); err != nil {
		return a, err
	}
	if a.targets, err = e.getDT(in.Targets, "targets", backend.I32, a.n); err != nil {
		return a, err
	}
	f32n := func(x backend.Tensor, what string) (*Tensor, error) { return e.getDT(x, what, backend.F32, a.n) }
	switch in.Mode {
	case backend.PGTokenClip:
		if a.adv, err = f32n(in.Adv, "adv"); err != nil {
			return a, err
		}
		if a.old, err = f32n(in.OldLogp, "old logp"); err != nil {
			return a, err
		}
		if a.weight, err = f32n(in.Weight, "weight"); err != nil {
			return a, err
		}
	case backend.PGNLL:
		if a.weight, err = f32n(in.Weight, "weight"); err != nil {
			return a, err
		}
	case backend.PGLogProbOnly:
	default:
		return a, fmt.Errorf("unknown mode %d", in.Mode)
	}
	if in.RefLogp != nil {
		if a.ref, err = f32n(in.RefLogp, "ref logp"); err != nil {
			return a, err
		}
	}
	if in.ChunkV < 0 {
		return a, fmt.Errorf("chunk %d must not be negative", in.ChunkV)
	}
	a.chunk = in.ChunkV
	if a.chunk == 0 {
		a.chunk = pgDefaultChunk
	}
	a.chunk = min(a.chunk, max(a.v, 1))
	a.mode, a.epsLow, a.epsHigh, a.beta = in.Mode, in.EpsLow, in.EpsHigh, in.Beta
	return a, nil
}

// pgRows picks how many token rows one pass takes so that the fp32 logits
// chunk plus gradBytes per element of its gradient fit the free scratch.
func (e *Engine) pgRows(a pgArgs, gradBytes int) (int, error) {
	free := e.scratch.capacity - e.scratch.top - 4*align
	per := int64(a.chunk) * int64(4+gradBytes)
	rows := int(min(int64(a.n), free/per))
	if rows < 1 {
		return 0, fmt.Errorf("scratch pool too small for one row of a %d-wide vocabulary chunk (raise PoolPlan[gpu.Scratch])", a.chunk)
	}
	return rows, nil
}

// logitsChunk computes L [rows, cw] (fp32) = hidden[r0:r0+rows] · head[v0:v0+cw]ᵀ.
func (e *Engine) logitsChunk(a pgArgs, L devPtr, r0, rows, v0, cw int) error {
	hs, ws := devPtr(a.hidden.dt.Size()), devPtr(a.head.dt.Size())
	return e.gemm(gemmDesc{transB: true, m: rows, n: cw, k: a.d, alpha: 1,
		a: a.hidden.ptr + devPtr(r0*a.d)*hs, at: a.hidden.dt, lda: a.d,
		b: a.head.ptr + devPtr(v0*a.d)*ws, bt: a.head.dt, ldb: a.d,
		c: L, ct: backend.F32, ldc: cw, batch: 1})
}

// ptrOr is t's address, or 0 for a nil tensor.
func ptrOr(t *Tensor) devPtr {
	if t == nil {
		return 0
	}
	return t.ptr
}

// PGLossForward is the fused LM head + log-softmax + gather + loss:
// for each row pass and vocabulary chunk, one GEMM makes the fp32 logits
// chunk in scratch and pg_chunk_stats folds it into float64 running
// max / sum / expectation; pg_finalize then writes the per-token outputs.
func (e *Engine) PGLossForward(out backend.PGLossOut, in backend.PGLossIn) {
	e.run("PGLossForward", func() error {
		a, err := e.pgCheck(in)
		if err != nil {
			return err
		}
		var outs [7]*Tensor
		for i, t := range []backend.Tensor{out.Logp, out.Entropy, out.LSE, out.Loss, out.Coef, out.Clip, out.KL} {
			if t == nil {
				continue
			}
			if outs[i], err = e.getDT(t, [...]string{"logp", "entropy", "lse", "loss", "coef", "clip", "kl"}[i], backend.F32, a.n); err != nil {
				return err
			}
		}
		if a.n == 0 {
			return nil
		}
		return e.exec(func() error {
			mark := e.scratch.mark()
			defer e.scratch.release(mark)
			st, err := e.scratchAlloc(int64(a.n) * 32)
			if err != nil {
				return err
			}
			rows, err := e.pgRows(a, 0)
			if err != nil {
				return err
			}
			L, err := e.scratchAlloc(int64(rows) * int64(a.chunk) * 4)
			if err != nil {
				return err
			}
			for r0 := 0; r0 < a.n; r0 += rows {
				nr := min(rows, a.n-r0)
				for v0 := 0; v0 < a.v; v0 += a.chunk {
					cw := min(a.chunk, a.v-v0)
					if err := e.logitsChunk(a, L, r0, nr, v0, cw); err != nil {
						return err
					}
					if err := e.launch("pg_chunk_stats", dim3{(nr + 7) / 8, 1, 1}, dim3{256, 1, 1}, 0,
						L, nr, cw, v0, r0, a.n, a.targets.ptr, st, v0 == 0); err != nil {
						return err
					}
				}
			}
			return e.launch("pg_finalize", dim3{(a.n + 255) / 256, 1, 1}, dim3{256, 1, 1}, 0,
				ptrOr(outs[0]), ptrOr(outs[1]), ptrOr(outs[2]), ptrOr(outs[3]), ptrOr(outs[4]), ptrOr(outs[5]), ptrOr(outs[6]),
				st, a.targets.ptr, a.v, ptrOr(a.adv), ptrOr(a.old), ptrOr(a.ref), ptrOr(a.weight),
				a.n, int(a.mode), a.epsLow, a.epsHigh, a.beta)
		})
	})
}

// PGLossBackward recomputes each logits chunk, forms dlogits = coef·(onehot
// − p) in hidden's dtype, then dHidden (+)= dlogits·Head_chunk and
// dHead_chunk += dlogitsᵀ·Hidden, both GEMMs. dHidden is overwritten
// (accumulated in fp32 scratch first when it is bf16).
func (e *Engine) PGLossBackward(dHidden, dHead backend.Tensor, in backend.PGLossIn, lse, coef backend.Tensor) {
	e.run("PGLossBackward", func() error {
		a, err := e.pgCheck(in)
		if err != nil {
			return err
		}
		dh, err := e.getFloat(dHidden, "dHidden", a.n*a.d)
		if err != nil {
			return err
		}
		dw, err := e.getFloat(dHead, "dHead", a.v*a.d)
		if err != nil {
			return err
		}
		lt, err := e.getDT(lse, "lse", backend.F32, a.n)
		if err != nil {
			return err
		}
		ct, err := e.getDT(coef, "coef", backend.F32, a.n)
		if err != nil || a.n == 0 {
			return err
		}
		return e.exec(func() error { return e.pgBackward(a, dh, dw, lt, ct) })
	})
}

// pgBackward is PGLossBackward on the CUDA goroutine.
func (e *Engine) pgBackward(a pgArgs, dh, dw, lt, ct *Tensor) error {
	mark := e.scratch.mark()
	defer e.scratch.release(mark)
	acc, accDT := dh.ptr, dh.dt
	if dh.dt != backend.F32 {
		p, err := e.scratchAlloc(int64(a.n) * int64(a.d) * 4)
		if err != nil {
			return err
		}
		acc, accDT = p, backend.F32
	}
	gdt := a.hidden.dt
	if a.head.dt != gdt {
		gdt = backend.F32
	}
	rows, err := e.pgRows(a, gdt.Size())
	if err != nil {
		return err
	}
	L, err := e.scratchAlloc(int64(rows) * int64(a.chunk) * 4)
	if err != nil {
		return err
	}
	G, err := e.scratchAlloc(int64(rows) * int64(a.chunk) * int64(gdt.Size()))
	if err != nil {
		return err
	}
	hs, ws := devPtr(a.hidden.dt.Size()), devPtr(a.head.dt.Size())
	for r0 := 0; r0 < a.n; r0 += rows {
		nr := min(rows, a.n-r0)
		for v0 := 0; v0 < a.v; v0 += a.chunk {
			cw := min(a.chunk, a.v-v0)
			if err := e.logitsChunk(a, L, r0, nr, v0, cw); err != nil {
				return err
			}
			n := int64(nr) * int64(cw)
			if err := e.launch("pg_dlogits", e.gridFor(n), dim3{256, 1, 1}, 0, L, G, int(gdt), nr, cw, v0,
				a.targets.ptr+devPtr(4*r0), lt.ptr+devPtr(4*r0), ct.ptr+devPtr(4*r0)); err != nil {
				return err
			}
			beta := float32(1)
			if v0 == 0 {
				beta = 0
			}
			if err := e.gemm(gemmDesc{m: nr, n: a.d, k: cw, alpha: 1, beta: beta,
				a: G, at: gdt, lda: cw, b: a.head.ptr + devPtr(v0*a.d)*ws, bt: a.head.dt, ldb: a.d,
				c: acc + devPtr(r0*a.d*accDT.Size()), ct: accDT, ldc: a.d, batch: 1}); err != nil {
				return err
			}
			if err := e.gemm(gemmDesc{transA: true, m: cw, n: a.d, k: nr, alpha: 1, beta: 1,
				a: G, at: gdt, lda: cw, b: a.hidden.ptr + devPtr(r0*a.d)*hs, bt: a.hidden.dt, ldb: a.d,
				c: dw.ptr + devPtr(v0*a.d*dw.dt.Size()), ct: dw.dt, ldc: a.d, batch: 1}); err != nil {
				return err
			}
		}
	}
	if acc != dh.ptr {
		n := int64(a.n) * int64(a.d)
		return e.launch("copy_range", e.gridFor(n), dim3{256, 1, 1}, 0, dh.ptr, int(dh.dt), int64(0), acc, int(backend.F32), int64(0), n)
	}
	return nil
}
