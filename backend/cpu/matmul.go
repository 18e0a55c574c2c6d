package cpu

import (
	"fmt"
	"strings"

	"github.com/sirl-dev/sirl/backend"
)

// Kernels names the matmul micro-kernels this CPU runs, fastest first (of
// "avx512", "avx2", "go"). They give bitwise-identical results: each output
// is one chain of fused multiply-adds over k in the same order.
func Kernels() []string {
	var names []string
	for _, k := range gemmKernels() {
		names = append(names, k.name)
	}
	return names
}

// UseKernel makes e run the named matmul micro-kernel, one of Kernels (by
// default it runs the first). Call it before e is used.
func (e *Engine) UseKernel(name string) error {
	for _, k := range gemmKernels() {
		if k.name == name {
			e.kern = k
			return nil
		}
	}
	return fmt.Errorf("cpu: matmul kernel %q is not available on this CPU (have %s)", name, strings.Join(Kernels(), ", "))
}

// MatMul computes c = alpha·op(a)·op(b) + beta·c (see backend.MatMulParams).
// Rank-2 operands give one product; rank-3 a and c (and b, or a rank-2 b
// shared by every batch) give a batch of them. With beta = 0, c is not read.
func (e *Engine) MatMul(c, a, b backend.Tensor, p backend.MatMulParams) {
	chk := e.begin("MatMul")
	if chk == nil {
		return
	}
	ct, at, bt := chk.float(c, "c"), chk.float(a, "a"), chk.float(b, "b")
	if !chk.ok() {
		return
	}
	ra, rb, rc := len(at.shape), len(bt.shape), len(ct.shape)
	chk.require((ra == 2 && rb == 2 && rc == 2) || (ra == 3 && rc == 3 && (rb == 2 || rb == 3)),
		"ranks a %v, b %v, c %v: want all rank 2, or rank-3 a and c with rank-2 or rank-3 b", at.shape, bt.shape, ct.shape)
	if !chk.ok() {
		return
	}
	batch := 1
	if ra == 3 {
		batch = at.shape[0]
		chk.require(ct.shape[0] == batch && (rb == 2 || bt.shape[0] == batch),
			"batch sizes of a %v, b %v, c %v differ", at.shape, bt.shape, ct.shape)
	}
	as, bs := at.shape[ra-2:], bt.shape[rb-2:]
	m, k := as[0], as[1]
	if p.TransA {
		m, k = k, m
	}
	kb, n := bs[0], bs[1]
	if p.TransB {
		kb, n = n, kb
	}
	chk.require(kb == k, "inner dimensions differ: op(a) is %dx%d, op(b) is %dx%d (a %v, b %v, transA %v, transB %v)",
		m, k, kb, n, at.shape, bt.shape, p.TransA, p.TransB)
	chk.require(ct.shape[rc-2] == m && ct.shape[rc-1] == n, "c %v, want [..., %d, %d]", ct.shape, m, n)
	chk.require(ct != at && ct != bt, "c may not alias a or b")
	if !chk.ok() {
		return
	}
	g := gemmArgs{transA: p.TransA, transB: p.TransB, m: m, n: n, k: k, alpha: p.Alpha, beta: p.Beta,
		a: at.f, b: bt.f, c: ct.f, lda: as[1], ldb: bs[1], ldc: n}
	switch {
	case batch == 1:
		e.gemm(g)
	case rb == 2 && !p.TransA:
		// A shared B: the batch is one tall product.
		g.m = batch * m
		e.gemm(g)
	case m*n*k >= 4*minParallelWork || batch < 2:
		for i := 0; i < batch; i++ {
			e.gemm(batchSlice(g, i, rb == 2))
		}
	default:
		e.parallel(batch, m*n*k, func(lo, hi int) {
			w := e.getWork()
			for i := lo; i < hi; i++ {
				e.kern.run(batchSlice(g, i, rb == 2), w)
			}
			e.work.Put(w)
		})
	}
	ct.round(0, ct.n)
}

// batchSlice restricts g to batch item i.
func batchSlice(g gemmArgs, i int, sharedB bool) gemmArgs {
	s := g
	s.a = g.a[i*g.m*g.k:]
	if !sharedB {
		s.b = g.b[i*g.k*g.n:]
	}
	s.c = g.c[i*g.m*g.n:]
	return s
}
