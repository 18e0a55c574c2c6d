//go:build amd64 && !purego

#include "textflag.h"

// sigmoidAVX512 is sigmoid (elementwise.go), float32(1/(1+math.Exp(-x))),
// eight lanes at a time: the exponential repeats, operation for operation,
// the FMA path of the Go runtime's math.Exp on amd64 (math/exp_amd64.s,
// used when the CPU has AVX and FMA), so the results are the same bits.
// TestSigmoidAVX512 checks that against math.Exp. Lanes with |x| > 700 or
// NaN (where math.Exp takes its overflow, denormal or special-value paths)
// stop the loop; the caller computes them.

DATA sigdata<>+0(SB)/8, $0.5
DATA sigdata<>+8(SB)/8, $1.0
DATA sigdata<>+16(SB)/8, $2.0
DATA sigdata<>+24(SB)/8, $1.6666666666666666667e-1
DATA sigdata<>+32(SB)/8, $4.1666666666666666667e-2
DATA sigdata<>+40(SB)/8, $8.3333333333333333333e-3
DATA sigdata<>+48(SB)/8, $1.3888888888888888889e-3
DATA sigdata<>+56(SB)/8, $1.9841269841269841270e-4
DATA sigdata<>+64(SB)/8, $2.4801587301587301587e-5
DATA sigdata<>+72(SB)/8, $1.4426950408889634073599246810018920    // log2(e)
DATA sigdata<>+80(SB)/8, $0.69314718055966295651160180568695068359375 // ln 2, upper part
DATA sigdata<>+88(SB)/8, $0.28235290563031577122588448175013436025525412068e-12 // ln 2, lower part
DATA sigdata<>+96(SB)/8, $0.0625
DATA sigdata<>+104(SB)/8, $700.0
DATA sigdata<>+112(SB)/8, $0x7fffffffffffffff // |x| mask
DATA sigdata<>+120(SB)/8, $0x3ff              // exponent bias
DATA sigdata<>+128(SB)/8, $0x8000000000000000 // sign bit
GLOBL sigdata<>(SB), RODATA, $136

// func sigmoidAVX512(dst, src unsafe.Pointer, n int) int
TEXT ·sigmoidAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	VBROADCASTSD sigdata<>+0(SB), Z16  // 0.5
	VBROADCASTSD sigdata<>+8(SB), Z17  // 1
	VBROADCASTSD sigdata<>+16(SB), Z18 // 2
	VBROADCASTSD sigdata<>+24(SB), Z19
	VBROADCASTSD sigdata<>+32(SB), Z20
	VBROADCASTSD sigdata<>+40(SB), Z21
	VBROADCASTSD sigdata<>+48(SB), Z22
	VBROADCASTSD sigdata<>+56(SB), Z23
	VBROADCASTSD sigdata<>+64(SB), Z24
	VBROADCASTSD sigdata<>+72(SB), Z25 // log2(e)
	VBROADCASTSD sigdata<>+80(SB), Z26 // ln2 upper
	VBROADCASTSD sigdata<>+88(SB), Z27 // ln2 lower
	VBROADCASTSD sigdata<>+96(SB), Z28 // 1/16
	VBROADCASTSD sigdata<>+104(SB), Z29 // 700
	VPBROADCASTQ sigdata<>+112(SB), Z30 // |x| mask
	VPBROADCASTQ sigdata<>+120(SB), Z31 // 1023
	VPBROADCASTQ sigdata<>+128(SB), Z15 // sign bit

loop:
	CMPQ AX, CX
	JGE  done
	VCVTPS2PD (SI)(AX*4), Z0       // x
	VPANDQ    Z30, Z0, Z1
	VCMPPD    $0x12, Z29, Z1, K1   // |x| <= 700 (false for NaN)
	KMOVW     K1, BX               // KMOVW: AVX512F (KMOVB needs DQ)
	CMPB      BL, $0xff
	JNE       done
	VPXORQ    Z15, Z0, Z0          // y = -x
	VMULPD    Z25, Z0, Z1          // y·log2(e)
	VCVTPD2DQ Z1, Y2               // k, rounded to nearest
	VCVTDQ2PD Y2, Z3
	VFNMADD231PD Z26, Z3, Z0       // y −= k·ln2u (fused)
	VFNMADD231PD Z27, Z3, Z0       // y −= k·ln2l (fused)
	VMULPD    Z28, Z0, Z0          // y /= 16
	VMOVAPD   Z24, Z1              // Horner, fused as math.Exp
	VFMADD213PD Z23, Z0, Z1
	VFMADD213PD Z22, Z0, Z1
	VFMADD213PD Z21, Z0, Z1
	VFMADD213PD Z20, Z0, Z1
	VFMADD213PD Z19, Z0, Z1
	VFMADD213PD Z16, Z0, Z1
	VFMADD213PD Z17, Z0, Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z18, Z0, Z1          // square four times: y·(y+2)
	VMULPD    Z1, Z0, Z0
	VADDPD    Z18, Z0, Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z18, Z0, Z1
	VMULPD    Z1, Z0, Z0
	VADDPD    Z18, Z0, Z1
	VFMADD213PD Z17, Z1, Z0        // y·(y+2) + 1
	VPMOVSXDQ Y2, Z4               // 2^k
	VPADDQ    Z31, Z4, Z4
	VPSLLQ    $52, Z4, Z4
	VMULPD    Z4, Z0, Z0           // e^-x
	VADDPD    Z17, Z0, Z0          // 1 + e^-x
	VDIVPD    Z0, Z17, Z0          // 1 / (1 + e^-x)
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)(AX*4)
	ADDQ      $8, AX
	JMP       loop

done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
