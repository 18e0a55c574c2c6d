package cpu

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fmaExact is x·y + z rounded once to float32, computed with big.Float.
func fmaExact(x, y, z float32) float32 {
	for _, v := range []float32{x, y, z} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return float32(float64(x)*float64(y) + float64(z)) // exact: inf or NaN
		}
	}
	p := new(big.Float).SetPrec(2000).SetFloat64(float64(x))
	p.Mul(p, new(big.Float).SetFloat64(float64(y)))
	p.Add(p, new(big.Float).SetFloat64(float64(z)))
	f, _ := p.Float32()
	return f
}

// fmaCases returns triples whose exact x·y + z lies just off a float32
// halfway point (where rounding to float64 first gives the wrong float32),
// in the subnormal range, near overflow, and at random.
func fmaCases(rng *rand.Rand) [][3]float32 {
	var cs [][3]float32
	for range 2000 {
		// x·y = 2^-24·(1 − a²·2^-46): z + x·y sits a hair below the
		// midpoint z + 2^-24 (relative to z's binade), for odd and even z.
		a := float64(1 + rng.IntN(1<<9))
		c := float64(rng.IntN(1 << 23))
		e := rng.IntN(200) - 100
		s := float64(1 - 2*rng.IntN(2))
		x := float32(math.Ldexp(s*(1+a*0x1p-23), e))
		y := float32(math.Ldexp(1-a*0x1p-23, -24))
		z := float32(math.Ldexp(s*(1+c*0x1p-23), e))
		cs = append(cs, [3]float32{x, y, z}, [3]float32{x, -y, z}, [3]float32{-x, y, -z})
		// Subnormal results.
		xs := float32(math.Ldexp(1+a*0x1p-23, -75))
		ys := float32(math.Ldexp(1-a*0x1p-23, -75-rng.IntN(3)))
		zs := float32(math.Ldexp(float64(rng.IntN(64)-32), -149))
		cs = append(cs, [3]float32{xs, ys, zs})
		// Random operands of any magnitude.
		r := func() float32 {
			return float32(math.Ldexp(rng.NormFloat64(), rng.IntN(120)-60))
		}
		cs = append(cs, [3]float32{r(), r(), r()})
	}
	mx := float32(math.MaxFloat32)
	cs = append(cs, [3]float32{mx, 1, mx}, [3]float32{mx, -1, mx}, [3]float32{0, 0, 0},
		[3]float32{float32(math.Copysign(0, -1)), 1, 0}, [3]float32{float32(math.Inf(1)), 1, 1},
		[3]float32{float32(math.Inf(1)), 0, 1}, [3]float32{1, 1, float32(math.NaN())},
		[3]float32{0x1p-149, 0.5, 0}, [3]float32{0x1p-149, 0.5, 0x1p-149}, [3]float32{0x1p-149, -0.5, 0})
	return cs
}

func sameBits(a, b float32) bool {
	if math.IsNaN(float64(a)) && math.IsNaN(float64(b)) {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// TestFMA32 checks fma32 against exact arithmetic, and every kernel's
// multiply-add against fma32: with kc = 2 and a = (z, x), b = (1, y), a
// kernel computes fma(x, y, fma(z, 1, 0)) = fma(x, y, z).
func TestFMA32(t *testing.T) {
	cs := fmaCases(rand.New(rand.NewPCG(11, 12)))
	doubleRounded := 0
	for _, c := range cs {
		x, y, z := c[0], c[1], c[2]
		got, want := fma32(x, y, z), fmaExact(x, y, z)
		if !sameBits(got, want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%#x), want %g (%#x)", x, y, z, got, math.Float32bits(got), want, math.Float32bits(want))
		}
		if !sameBits(float32(float64(x)*float64(y)+float64(z)), want) {
			doubleRounded++
		}
	}
	t.Logf("%d of %d cases round differently through float64", doubleRounded, len(cs))
	if doubleRounded == 0 {
		t.Fatal("no case where rounding through float64 differs from a fused multiply-add: the cases test nothing")
	}
	for _, kern := range gemmKernels() {
		mr, nr := kern.mr, kern.nr
		a, b, acc := make([]float32, 2*mr), make([]float32, 2*nr), make([]float32, mr*nr)
		for i, c := range cs {
			// Case i at output (r, j); every other operand is 0, so no
			// other output can send the step down another path.
			r, j := i%mr, i%nr
			clear(a)
			clear(b)
			a[r], a[mr+r] = c[2], c[0]
			b[j], b[nr+j] = 1, c[1]
			kern.micro(2, a, b, acc)
			if got, want := acc[r*nr+j], fma32(c[0], c[1], fma32(c[2], 1, 0)); !sameBits(got, want) {
				t.Fatalf("%s: fma(%g, %g, %g) = %g, fma32 %g", kern.name, c[0], c[1], c[2], got, want)
			}
		}
	}
}

// specGemm is the arithmetic every kernel must reproduce bit for bit: for
// each output, each block of gemmKC products is summed by a chain of fused
// multiply-adds from 0 with p in order, scaled by alpha, and merged into C
// (the first block as beta·c + alpha·t, or alpha·t when beta is 0; later
// blocks as c + alpha·t), with every product and sum rounded to float32.
func specGemm(g gemmArgs) []float32 {
	c := append([]float32(nil), g.c...)
	at := func(i, p int) float32 {
		if g.transA {
			return g.a[p*g.lda+i]
		}
		return g.a[i*g.lda+p]
	}
	bt := func(p, j int) float32 {
		if g.transB {
			return g.b[j*g.ldb+p]
		}
		return g.b[p*g.ldb+j]
	}
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			o := &c[i*g.ldc+j]
			if g.k == 0 && g.beta == 0 {
				*o = 0
			}
			for pc := 0; pc < g.k; pc += gemmKC {
				var s float32
				for p := pc; p < min(pc+gemmKC, g.k); p++ {
					s = fma32(at(i, p), bt(p, j), s)
				}
				s = float32(g.alpha * s)
				switch {
				case pc == 0 && g.beta == 0:
					*o = s
				case pc == 0 && g.beta != 1:
					*o = float32(g.beta**o) + s
				default:
					*o += s
				}
			}
			if g.k == 0 && g.beta != 0 {
				*o *= g.beta
			}
		}
	}
	return c
}

// TestGemmBitwise checks that every kernel this CPU runs, on 1 and 3
// threads, gives exactly specGemm's bits on shapes around every tile and
// block edge, with transposes, padded leading dimensions and alpha/beta.
func TestGemmBitwise(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{1, 1, 1}, {1, 33, 7}, {5, 1, 300}, {6, 16, 3}, {12, 32, 256}, {13, 33, 257},
		{11, 31, 255}, {25, 65, 513}, {97, 530, 40}, {7, 17, 0}, {200, 96, 600},
		{130, 128, 128}, {64, 352, 128}, {64, 128, 352}, {128, 128, 260},
		// Packed B (many rows, B rows far apart) and packed A (very wide C)
		// for a kernel that otherwise reads them in place.
		{800, 1100, 9}, {30, 8300, 5},
	}
	ab := [][2]float32{{1, 0}, {1, 1}, {0.5, 0.25}, {-1.5, 0}, {2, -1}}
	rng := rand.New(rand.NewPCG(21, 22))
	kernels := gemmKernels()
	for si, s := range shapes {
		for tr := 0; tr < 4; tr++ {
			m, n, k := s[0], s[1], s[2]
			alpha, beta := ab[(si+tr)%len(ab)][0], ab[(si+tr)%len(ab)][1]
			g := gemmArgs{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k, alpha: alpha, beta: beta}
			ar, ac := m, k
			if g.transA {
				ar, ac = k, m
			}
			br, bc := k, n
			if g.transB {
				br, bc = n, k
			}
			g.lda, g.ldb, g.ldc = ac+1, bc+3, n+2
			g.a, g.b, g.c = randSlice(rng, ar*g.lda), randSlice(rng, br*g.ldb), randSlice(rng, m*g.ldc)
			want := specGemm(g)
			c0 := g.c
			for _, kern := range kernels {
				for _, threads := range []int{1, 3} {
					name := fmt.Sprintf("%s/%d threads/%dx%dx%d transA %v transB %v alpha %g beta %g",
						kern.name, threads, m, n, k, g.transA, g.transB, alpha, beta)
					h := g
					h.c = append([]float32(nil), c0...)
					e := New(threads)
					e.kern = kern
					e.gemm(h)
					for i, w := range want {
						if math.Float32bits(h.c[i]) != math.Float32bits(w) {
							t.Fatalf("%s: c[%d,%d] = %g (%#x), want %g (%#x)", name, i/g.ldc, i%g.ldc,
								h.c[i], math.Float32bits(h.c[i]), w, math.Float32bits(w))
						}
					}
				}
			}
		}
	}
}
