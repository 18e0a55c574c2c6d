//go:build amd64 && !purego

#include "textflag.h"

// The 12×32 AVX-512 micro-kernel. Row i of the tile is in Z(8+2i)
// (columns 0-15) and Z(9+2i) (columns 16-31); Z0 and Z1 hold a row of the
// packed B panel and Z2-Z7 the broadcast elements of the packed A panel.
// Every output is one fused multiply-add chain over p in order, as in the
// AVX2 and portable kernels, so all three give the same bits.

#define FMAROW(off, t, lo, hi) \
	VBROADCASTSS off(SI), t \
	VFMADD231PS  Z0, t, lo  \
	VFMADD231PS  Z1, t, hi

// STEP does one p: the B row at boff(DI), the A column at aoff(SI).
#define STEP(aoff, boff) \
	VMOVUPS boff(DI), Z0                \
	VMOVUPS boff+64(DI), Z1             \
	FMAROW(aoff, Z2, Z8, Z9)            \
	FMAROW(aoff+4, Z3, Z10, Z11)        \
	FMAROW(aoff+8, Z4, Z12, Z13)        \
	FMAROW(aoff+12, Z5, Z14, Z15)       \
	FMAROW(aoff+16, Z6, Z16, Z17)       \
	FMAROW(aoff+20, Z7, Z18, Z19)       \
	FMAROW(aoff+24, Z2, Z20, Z21)       \
	FMAROW(aoff+28, Z3, Z22, Z23)       \
	FMAROW(aoff+32, Z4, Z24, Z25)       \
	FMAROW(aoff+36, Z5, Z26, Z27)       \
	FMAROW(aoff+40, Z6, Z28, Z29)       \
	FMAROW(aoff+44, Z7, Z30, Z31)

#define ROWS(OP) \
	OP(Z8, Z9)   \
	OP(Z10, Z11) \
	OP(Z12, Z13) \
	OP(Z14, Z15) \
	OP(Z16, Z17) \
	OP(Z18, Z19) \
	OP(Z20, Z21) \
	OP(Z22, Z23) \
	OP(Z24, Z25) \
	OP(Z26, Z27) \
	OP(Z28, Z29) \
	OP(Z30, Z31)

#define ZERO(lo, hi) \
	VPXORD lo, lo, lo \
	VPXORD hi, hi, hi

#define SCALE(lo, hi) \
	VMULPS Z0, lo, lo \
	VMULPS Z0, hi, hi

#define STORE(lo, hi) \
	VMOVUPS lo, (DX)   \
	VMOVUPS hi, 64(DX) \
	ADDQ    R8, DX

#define ACCUM(lo, hi) \
	VADDPS  (DX), lo, lo   \
	VADDPS  64(DX), hi, hi \
	VMOVUPS lo, (DX)       \
	VMOVUPS hi, 64(DX)     \
	ADDQ    R8, DX

#define BLEND(lo, hi) \
	VMULPS  (DX), Z1, Z2   \
	VMULPS  64(DX), Z1, Z3 \
	VADDPS  Z2, lo, lo     \
	VADDPS  Z3, hi, hi     \
	VMOVUPS lo, (DX)       \
	VMOVUPS hi, 64(DX)     \
	ADDQ    R8, DX

// func sgemm12x32(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int)
TEXT ·sgemm12x32(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	ROWS(ZERO)
	MOVQ CX, BX
	SHRQ $2, BX
	JEQ  tail

loop4:
	STEP(0, 0)
	STEP(48, 128)
	STEP(96, 256)
	STEP(144, 384)
	ADDQ $192, SI
	ADDQ $512, DI
	DECQ BX
	JNE  loop4

tail:
	ANDQ $3, CX
	JEQ  merge

loop1:
	STEP(0, 0)
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNE  loop1

merge:
	MOVQ         ldc+32(FP), R8
	SHLQ         $2, R8
	VBROADCASTSS alpha+40(FP), Z0
	ROWS(SCALE)
	MOVQ         mode+48(FP), AX
	CMPQ         AX, $1
	JEQ          accum
	CMPQ         AX, $2
	JEQ          blend
	ROWS(STORE)
	VZEROUPPER
	RET

accum:
	ROWS(ACCUM)
	VZEROUPPER
	RET

blend:
	VBROADCASTSS beta+44(FP), Z1
	ROWS(BLEND)
	VZEROUPPER
	RET
