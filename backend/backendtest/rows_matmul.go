package backendtest

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// mmCase is one MatMul row: batch 0 means rank-2 operands; sharedB makes b
// rank 2 under a rank-3 a and c.
type mmCase struct {
	batch, m, n, k int
	ta, tb         bool
	sharedB        bool
	alpha, beta    float32
	dt             backend.DType
	tol            float64
}

// name spells the case for the row name.
func (c mmCase) name() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	s := fmt.Sprintf("matmul_%s%s_%dx%dx%d", t(c.ta), t(c.tb), c.m, c.n, c.k)
	if c.batch > 0 {
		s += fmt.Sprintf("_batch%d", c.batch)
		if c.sharedB {
			s += "_sharedB"
		}
	}
	if c.beta != 0 {
		s += "_beta"
	}
	return s + "_" + c.dt.String()
}

// matmulRows covers every transpose pair, alpha/beta, blocking edges,
// batches and a shared B.
func matmulRows() []row {
	var cs []mmCase
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			cs = append(cs, mmCase{m: 37, n: 29, k: 53, ta: ta, tb: tb, alpha: 0.7, beta: 0.3, dt: backend.F32, tol: tolF32})
		}
	}
	cs = append(cs,
		mmCase{m: 130, n: 70, k: 300, alpha: 1, dt: backend.F32, tol: tolF32},
		mmCase{m: 200, n: 48, k: 64, tb: true, alpha: 1, dt: backend.F32, tol: tolF32},
		mmCase{m: 1, n: 1, k: 1, alpha: 2, beta: 1, dt: backend.F32, tol: tolF32},
		mmCase{m: 40, n: 33, k: 50, tb: true, alpha: 1, dt: backend.BF16, tol: tolBF},
		mmCase{batch: 3, m: 17, n: 19, k: 23, alpha: 1, dt: backend.F32, tol: tolF32},
		mmCase{batch: 3, m: 17, n: 19, k: 23, ta: true, tb: true, alpha: 0.5, beta: 1, dt: backend.F32, tol: tolF32},
		mmCase{batch: 4, m: 9, n: 11, k: 16, sharedB: true, alpha: 1, dt: backend.F32, tol: tolF32},
		mmCase{batch: 4, m: 9, n: 11, k: 16, sharedB: true, tb: true, alpha: 1, dt: backend.F32, tol: tolF32},
		mmCase{batch: 4, m: 9, n: 11, k: 16, sharedB: true, ta: true, alpha: 1, beta: 0.5, dt: backend.F32, tol: tolF32},
	)
	rs := make([]row, len(cs))
	for i, c := range cs {
		rs[i] = row{name: c.name(), run: func(h *harness) { runMatMul(h, c) }}
	}
	return rs
}

// runMatMul runs one case against refMatMul.
func runMatMul(h *harness, c mmCase) {
	ashape := []int{c.m, c.k}
	if c.ta {
		ashape = []int{c.k, c.m}
	}
	bshape := []int{c.k, c.n}
	if c.tb {
		bshape = []int{c.n, c.k}
	}
	cshape := []int{c.m, c.n}
	nb := max(c.batch, 1)
	if c.batch > 0 {
		ashape = append([]int{c.batch}, ashape...)
		cshape = append([]int{c.batch}, cshape...)
		if !c.sharedB {
			bshape = append([]int{c.batch}, bshape...)
		}
	}
	a, av := h.input(c.dt, h.normal(backend.Numel(ashape), 1), ashape...)
	b, bv := h.input(c.dt, h.normal(backend.Numel(bshape), 1), bshape...)
	var out backend.Tensor
	var cv []float64
	if c.beta != 0 {
		out, cv = h.input(c.dt, h.normal(backend.Numel(cshape), 1), cshape...)
	} else {
		out = h.output(c.dt, cshape...)
	}
	h.e.MatMul(out, a, b, backend.MatMulParams{TransA: c.ta, TransB: c.tb, Alpha: c.alpha, Beta: c.beta})
	var want []float64
	sa, sb, sc := c.m*c.k, c.k*c.n, c.m*c.n
	for i := 0; i < nb; i++ {
		bi := bv
		if c.batch > 0 && !c.sharedB {
			bi = bv[i*sb : (i+1)*sb]
		}
		var ci []float64
		if cv != nil {
			ci = cv[i*sc : (i+1)*sc]
		}
		want = append(want, refMatMul(av[i*sa:(i+1)*sa], bi, ci, c.m, c.n, c.k, c.ta, c.tb,
			float64(c.alpha), float64(c.beta))...)
	}
	h.check("c", h.get(out), want, c.tol)
}
