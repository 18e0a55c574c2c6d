package cpu

import "math"

// expf returns e^x in float32 with a relative error of about 1e-7 (Cephes
// expf: range reduction by ln 2 and a degree-6 polynomial). Arguments
// outside [−87, 88] and NaN fall back to math.Exp.
func expf(x float32) float32 {
	if !(x >= -87 && x <= 88) {
		return float32(math.Exp(float64(x)))
	}
	const magic = 12582912 // 1.5·2^23: adding it rounds to an integer
	t := x*1.44269504088896341 + magic
	kf := t - magic
	k := int32(math.Float32bits(t)) - 0x4b400000
	r := x - kf*0.693359375 - kf*-2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(k+127)<<23)
}
