package cpu

import "math"

// fma32 returns x·y + z rounded once to float32 (IEEE 754
// fusedMultiplyAdd, as the VFMADD instructions compute it). Go has no
// float32 FMA: the product is exact in float64 and the sum is rounded to
// float64 first, which can double-round only when that sum lies exactly
// halfway between two float32 values (or in the float32 subnormal range);
// fma32Slow settles those cases.
func fma32(x, y, z float32) float32 {
	xy := float64(x) * float64(y)
	r := xy + float64(z)
	if !fmaHard(r) {
		return float32(r)
	}
	return fma32Slow(xy, float64(z), r)
}

// fmaHard reports whether r = x·y + z rounded to float64 may round to
// another float32 than x·y + z does: when r lies exactly halfway between two
// float32 values, is below the float32 normal range (but not 0: then the
// sum is exactly 0), or is not finite. Otherwise float32(r) is the fused
// result (a float64 holds more than twice a float32's precision, so r is on
// the same side of every float32 halfway point as the exact sum).
func fmaHard(r float64) bool {
	b := math.Float64bits(r)
	return b&(1<<29-1) == 1<<28 || (b>>52)&0x7ff < 1023-126 && r != 0 || (b>>52)&0x7ff == 0x7ff
}

// fma32Slow rounds xy + z to float32 given r, the sum rounded to float64.
func fma32Slow(xy, z, r float64) float32 {
	f := float32(r)
	if math.IsNaN(r) || math.IsInf(r, 0) || float64(f) == r {
		return f
	}
	// err = xy + z − r exactly (Knuth's TwoSum).
	bv := r - xy
	err := (xy - (r - bv)) + (z - bv)
	if err == 0 {
		return f
	}
	// f is r rounded to nearest; g is the float32 on r's other side. Only
	// when r is exactly halfway between them does err decide.
	fd := float64(f)
	if math.IsInf(fd, 0) {
		fd = math.Copysign(0x1p128, r)
	}
	var g float32
	if fd < r {
		g = math.Nextafter32(f, float32(math.Inf(1)))
	} else {
		g = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	if 2*r != fd+float64(g) {
		return f
	}
	if (err > 0) == (float64(g) > fd) {
		return g
	}
	return f
}
