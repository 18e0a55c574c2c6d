package cpu

// Blocked single-precision GEMM in the GotoBLAS style: op(B) is packed into
// kc×nr panels and op(A) into mr×kc panels (zero-padded at the edges), and a
// micro-kernel computes one mr×nr tile of C at a time. A kernel with a
// strided form (AVX-512) reads op(A) and a non-transposed B in place instead
// and packs only the edge panels.
//
// The arithmetic is fixed, whatever the kernel, tiling or split over
// goroutines: each element of C is, per block of gemmKC products, one chain
// of fused multiply-adds from 0 over p in order, scaled by alpha and merged
// into C (specGemm in gemm_bitwise_test.go spells it out). So the portable,
// AVX2 and AVX-512 kernels and any thread count give the same bits; gemmKC
// must not change, or results would.

// Blocking sizes: kc columns of A share a packed panel; mc rows of A and nc
// columns of B form one macro block.
const (
	gemmKC = 256
	gemmMC = 96
	gemmNC = 1024
	// gemmInPlace: a kernel with a strided form reads op(A) in place when C
	// has at most this many columns.
	gemmInPlace = 8192
	// A kernel with a strided form reads a non-transposed B in place when C
	// has at most gemmInPlaceBRows rows (too few to pay for packing B) or
	// B's rows are less than gemmInPlaceBStride floats apart (farther, each
	// row of a panel is on its own page and packing measured faster).
	gemmInPlaceBRows, gemmInPlaceBStride = 256, 1024
)

// gemmKernel is a micro-kernel: acc[i*nr+j] = Σ_p a[p*mr+i]·b[p*nr+j] over
// p < kc, for packed panels a (kc×mr) and b (kc×nr).
type gemmKernel struct {
	name   string
	mr, nr int
	micro  func(kc int, a, b, acc []float32)
	// full, when set, computes a whole mr×nr tile and merges it into c as
	// storeTile would (same arithmetic); it is used for tiles away from the
	// edges of C.
	full func(kc int, a, b, c []float32, ldc int, alpha, beta float32, mode int)
	// strided, when set, is full reading A element (i, p) at a[i·ars+p·aps]
	// (ars or aps is 1) and B element (p, j) at b[p·bps+j], so that
	// operands can be used in place instead of packed.
	strided func(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc int, alpha, beta float32, mode int)
}

// Merge modes of a tile into C.
const (
	mergeStore = iota // c = alpha·t (first k-block with beta = 0: C is not read)
	mergeAccum        // c += alpha·t
	mergeBlend        // c = beta·c + alpha·t
)

// goKernel is the portable micro-kernel. A 2×4 tile keeps its 8
// accumulators and 6 operands in registers (4×4 spills on amd64), which
// measured fastest of the pure-Go shapes tried.
var goKernel = gemmKernel{name: "go", mr: 2, nr: 4, micro: microGo2x4}

// bestKernel is the fastest micro-kernel this CPU runs.
func bestKernel() gemmKernel { return gemmKernels()[0] }

// microGo2x4 is the portable micro-kernel (mr = 2, nr = 4). Like the
// assembly kernels it accumulates each output as one chain of fused
// multiply-adds over p in order, so it gives the same bits: each step is
// computed in float64 (the product exactly) and rounded to float32, which is
// the fused result unless fmaHard says otherwise; then fma32 redoes it.
func microGo2x4(kc int, a, b, acc []float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	a = a[:2*kc]
	b = b[:4*kc]
	for p := 0; p < kc; p++ {
		aa := a[2*p : 2*p+2 : 2*p+2]
		bb := b[4*p : 4*p+4 : 4*p+4]
		a0, a1 := float64(aa[0]), float64(aa[1])
		b0, b1, b2, b3 := float64(bb[0]), float64(bb[1]), float64(bb[2]), float64(bb[3])
		r00, r01, r02, r03 := a0*b0+float64(c00), a0*b1+float64(c01), a0*b2+float64(c02), a0*b3+float64(c03)
		r10, r11, r12, r13 := a1*b0+float64(c10), a1*b1+float64(c11), a1*b2+float64(c12), a1*b3+float64(c13)
		if fmaHard(r00) || fmaHard(r01) || fmaHard(r02) || fmaHard(r03) ||
			fmaHard(r10) || fmaHard(r11) || fmaHard(r12) || fmaHard(r13) {
			x0, x1 := aa[0], aa[1]
			c00, c01, c02, c03 = fma32(x0, bb[0], c00), fma32(x0, bb[1], c01), fma32(x0, bb[2], c02), fma32(x0, bb[3], c03)
			c10, c11, c12, c13 = fma32(x1, bb[0], c10), fma32(x1, bb[1], c11), fma32(x1, bb[2], c12), fma32(x1, bb[3], c13)
			continue
		}
		c00, c01, c02, c03 = float32(r00), float32(r01), float32(r02), float32(r03)
		c10, c11, c12, c13 = float32(r10), float32(r11), float32(r12), float32(r13)
	}
	acc = acc[:8]
	acc[0], acc[1], acc[2], acc[3] = c00, c01, c02, c03
	acc[4], acc[5], acc[6], acc[7] = c10, c11, c12, c13
}

// gemmArgs is one C = alpha·op(A)·op(B) + beta·C problem on row-major
// matrices: op(A) is m×k, op(B) is k×n, C is m×n.
type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// gemm runs g split over goroutines by rows (or columns when C is wide and
// short) of C.
func (e *Engine) gemm(g gemmArgs) {
	if g.m == 0 || g.n == 0 {
		return
	}
	work := g.m * g.n * g.k
	if work < 2*minParallelWork || e.threads == 1 {
		w := e.getWork()
		e.kern.run(g, w)
		e.work.Put(w)
		return
	}
	// Each goroutine packs all of op(B) when the rows are split and all of
	// op(A) when the columns are, so split the longer side of C, unless it
	// has too few tiles to share.
	mr, nr := e.kern.mr, e.kern.nr
	rowTiles, colTiles := (g.m+mr-1)/mr, (g.n+nr-1)/nr
	if rowTiles >= 2*e.threads && (g.m >= g.n || colTiles < 2*e.threads) || rowTiles >= 2*colTiles {
		e.parallelAligned(g.m, g.n*g.k, mr, func(lo, hi int) {
			s := g
			s.m = hi - lo
			s.c = g.c[lo*g.ldc:]
			if g.transA {
				s.a = g.a[lo:]
			} else {
				s.a = g.a[lo*g.lda:]
			}
			w := e.getWork()
			e.kern.run(s, w)
			e.work.Put(w)
		})
		return
	}
	e.parallelAligned(g.n, g.m*g.k, nr, func(lo, hi int) {
		s := g
		s.n = hi - lo
		s.c = g.c[lo:]
		if g.transB {
			s.b = g.b[lo*g.ldb:]
		} else {
			s.b = g.b[lo:]
		}
		w := e.getWork()
		e.kern.run(s, w)
		e.work.Put(w)
	})
}

// gemmWork is the packing space of one goroutine, reused across calls.
type gemmWork struct{ ap, bp, acc []float32 }

// grow returns x resliced to n elements, reallocating when too small.
func grow(x []float32, n int) []float32 {
	if cap(x) < n {
		return make([]float32, n)
	}
	return x[:n]
}

// getWork takes packing space from the engine's pool.
func (e *Engine) getWork() *gemmWork {
	if w, ok := e.work.Get().(*gemmWork); ok {
		return w
	}
	return new(gemmWork)
}

// run computes g on the calling goroutine with packing space w.
func (kern gemmKernel) run(g gemmArgs, w *gemmWork) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.k == 0 {
		for i := 0; i < g.m; i++ {
			row := g.c[i*g.ldc : i*g.ldc+g.n]
			for j := range row {
				if g.beta == 0 {
					row[j] = 0
				} else {
					row[j] *= g.beta
				}
			}
		}
		return
	}
	mr, nr := kern.mr, kern.nr
	inA := kern.strided != nil && g.n <= gemmInPlace
	inB := kern.strided != nil && !g.transB && (g.m <= gemmInPlaceBRows || g.ldb < gemmInPlaceBStride)
	kcMax := min(gemmKC, g.k)
	mcMax := min(gemmMC, (g.m+mr-1)/mr*mr)
	ncMax := min(gemmNC, (g.n+nr-1)/nr*nr)
	w.ap, w.bp, w.acc = grow(w.ap, mcMax*kcMax), grow(w.bp, ncMax*kcMax), grow(w.acc, mr*nr)
	t := tiler{kern: kern, g: g, inA: inA, inB: inB, ap: w.ap, bp: w.bp, acc: w.acc}
	for jc := 0; jc < g.n; jc += gemmNC {
		nb := min(gemmNC, g.n-jc)
		for pc := 0; pc < g.k; pc += gemmKC {
			kb := min(gemmKC, g.k-pc)
			if inB { // only the last, partial panel is packed
				full := nb / nr * nr
				packB(t.bp, g, pc, kb, jc+full, nb-full, nr)
			} else {
				packB(t.bp, g, pc, kb, jc, nb, nr)
			}
			t.beta, t.mode = 1, mergeAccum
			if pc == 0 {
				t.beta = g.beta
				switch t.beta {
				case 0:
					t.mode = mergeStore
				case 1:
				default:
					t.mode = mergeBlend
				}
			}
			for ic := 0; ic < g.m; ic += gemmMC {
				mb := min(gemmMC, g.m-ic)
				if inA {
					full := mb / mr * mr
					packA(t.ap, g, ic+full, mb-full, pc, kb, mr)
				} else {
					packA(t.ap, g, ic, mb, pc, kb, mr)
				}
				// The A micro-panel stays in L1 while the B panels stream
				// from L2.
				for ir := 0; ir < mb; ir += mr {
					for jr := 0; jr < nb; jr += nr {
						t.tile(pc, kb, ic, ir, mb, jc, jr, nb)
					}
				}
			}
		}
	}
}

// tiler computes the tiles of one gemm call.
type tiler struct {
	kern     gemmKernel
	g        gemmArgs
	inA, inB bool // operands read in place (else packed)
	ap, bp   []float32
	acc      []float32
	beta     float32
	mode     int
}

// tile computes the mr×nr tile of C at rows ic+ir.., columns jc+jr.. of the
// k-block pc..pc+kb and merges it into C.
func (t *tiler) tile(pc, kb, ic, ir, mb, jc, jr, nb int) {
	kern, g := t.kern, t.g
	mr, nr := kern.mr, kern.nr
	fullA, fullB := ir+mr <= mb, jr+nr <= nb
	// Packed panels: all of them, or only the partial one (at 0) when the
	// operand is read in place.
	apan, bpan := t.ap[ir*kb:(ir+mr)*kb], t.bp[jr*kb:(jr+nr)*kb]
	if t.inA {
		apan = t.ap[:mr*kb]
	}
	if t.inB {
		bpan = t.bp[:nr*kb]
	}
	if (t.inA && fullA) || (t.inB && fullB) {
		a, ars, aps := apan, 1, mr
		if t.inA && fullA {
			if g.transA {
				a, ars, aps = g.a[pc*g.lda+ic+ir:], 1, g.lda
			} else {
				a, ars, aps = g.a[(ic+ir)*g.lda+pc:], g.lda, 1
			}
		}
		b, bps := bpan, nr
		if t.inB && fullB {
			b, bps = g.b[pc*g.ldb+jc+jr:], g.ldb
		}
		if fullA && fullB {
			kern.strided(kb, a, ars, aps, b, bps, g.c[(ic+ir)*g.ldc+jc+jr:], g.ldc, g.alpha, t.beta, t.mode)
			return
		}
		kern.strided(kb, a, ars, aps, b, bps, t.acc, nr, 1, 0, mergeStore)
		storeTile(g, t.acc, ic+ir, min(mr, mb-ir), jc+jr, min(nr, nb-jr), nr, t.beta, t.mode)
		return
	}
	if kern.full != nil && fullA && fullB {
		kern.full(kb, apan, bpan, g.c[(ic+ir)*g.ldc+jc+jr:], g.ldc, g.alpha, t.beta, t.mode)
		return
	}
	kern.micro(kb, apan, bpan, t.acc)
	storeTile(g, t.acc, ic+ir, min(mr, mb-ir), jc+jr, min(nr, nb-jr), nr, t.beta, t.mode)
}

// storeTile merges an mr×nr accumulator tile into C rows i0.., columns
// j0.. in the given merge mode.
func storeTile(g gemmArgs, acc []float32, i0, rows, j0, cols, nr int, beta float32, mode int) {
	alpha := g.alpha
	for i := 0; i < rows; i++ {
		row := g.c[(i0+i)*g.ldc+j0 : (i0+i)*g.ldc+j0+cols]
		t := acc[i*nr : i*nr+cols]
		// The conversions round each product, as the assembly kernels do,
		// where the compiler would otherwise fuse it into the add.
		switch mode {
		case mergeStore:
			for j := range row {
				row[j] = alpha * t[j]
			}
		case mergeAccum:
			for j := range row {
				row[j] += float32(alpha * t[j])
			}
		default:
			for j := range row {
				row[j] = float32(beta*row[j]) + float32(alpha*t[j])
			}
		}
	}
}

// packA packs op(A) rows ic..ic+mb, columns pc..pc+kb into mr-row panels:
// ap[panel][p][i], zero-padded to a multiple of mr rows.
func packA(ap []float32, g gemmArgs, ic, mb, pc, kb, mr int) {
	for ir := 0; ir < mb; ir += mr {
		pan := ap[ir*kb : (ir+mr)*kb]
		rows := min(mr, mb-ir)
		if g.transA {
			// op(A)[i][p] = a[p*lda + i]: rows of a are contiguous in i.
			o := pc*g.lda + ic + ir
			switch {
			case rows == 12 && mr == 12:
				for p := 0; p < kb; p++ {
					*(*[12]float32)(pan[p*12 : p*12+12]) = *(*[12]float32)(g.a[o+p*g.lda : o+p*g.lda+12])
				}
			case rows == 6 && mr == 6:
				for p := 0; p < kb; p++ {
					*(*[6]float32)(pan[p*6 : p*6+6]) = *(*[6]float32)(g.a[o+p*g.lda : o+p*g.lda+6])
				}
			default:
				for p := 0; p < kb; p++ {
					dst := pan[p*mr : p*mr+mr]
					copy(dst[:rows], g.a[o+p*g.lda:o+p*g.lda+rows])
					clear(dst[rows:])
				}
			}
			continue
		}
		packRows(pan, g.a, (ic+ir)*g.lda+pc, g.lda, rows, kb, mr)
	}
}

// packB packs op(B) rows pc..pc+kb, columns jc..jc+nb into nr-column panels:
// bp[panel][p][j], zero-padded to a multiple of nr columns.
func packB(bp []float32, g gemmArgs, pc, kb, jc, nb, nr int) {
	for jr := 0; jr < nb; jr += nr {
		pan := bp[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		if !g.transB {
			if cols == nr {
				for p := 0; p < kb; p++ {
					o := (pc+p)*g.ldb + jc + jr
					copy(pan[p*nr:p*nr+nr], g.b[o:o+nr])
				}
				continue
			}
			for p := 0; p < kb; p++ {
				src := g.b[(pc+p)*g.ldb+jc+jr:]
				dst := pan[p*nr : p*nr+nr]
				for j := range cols {
					dst[j] = src[j]
				}
				clear(dst[cols:])
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb + p].
		packRows(pan, g.b, (jc+jr)*g.ldb+pc, g.ldb, cols, kb, nr)
	}
}

// packRows transposes rows of src into a panel of width w: pan[p*w+i] =
// src[off+i*ld+p] for i < rows, p < kb, and 0 for rows <= i < w.
func packRows(pan, src []float32, off, ld, rows, kb, w int) {
	i := 0
	for ; i+4 <= rows; i += 4 {
		o := off + i*ld
		r0, r1, r2, r3 := src[o:o+kb], src[o+ld:o+ld+kb], src[o+2*ld:o+2*ld+kb], src[o+3*ld:o+3*ld+kb]
		for p, v := range r0 {
			d := pan[p*w+i : p*w+i+4 : p*w+i+4]
			d[0], d[1], d[2], d[3] = v, r1[p], r2[p], r3[p]
		}
	}
	for ; i < rows; i++ {
		for p, v := range src[off+i*ld : off+i*ld+kb] {
			pan[p*w+i] = v
		}
	}
	for ; i < w; i++ {
		for p := 0; p < kb; p++ {
			pan[p*w+i] = 0
		}
	}
}
