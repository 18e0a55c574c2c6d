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

// BROW loads the B row at DI and steps DI to the next one (R10 bytes on).
#define BROW \
	VMOVUPS (DI), Z0   \
	VMOVUPS 64(DI), Z1 \
	ADDQ    R10, DI

// STEPP does one p with A p-major: the column of A at SI (rows 4 bytes
// apart), then steps SI by R9 bytes.
#define STEPP \
	BROW                         \
	FMAROW(0, Z2, Z8, Z9)        \
	FMAROW(4, Z3, Z10, Z11)      \
	FMAROW(8, Z4, Z12, Z13)      \
	FMAROW(12, Z5, Z14, Z15)     \
	FMAROW(16, Z6, Z16, Z17)     \
	FMAROW(20, Z7, Z18, Z19)     \
	FMAROW(24, Z2, Z20, Z21)     \
	FMAROW(28, Z3, Z22, Z23)     \
	FMAROW(32, Z4, Z24, Z25)     \
	FMAROW(36, Z5, Z26, Z27)     \
	FMAROW(40, Z6, Z28, Z29)     \
	FMAROW(44, Z7, Z30, Z31)     \
	ADDQ R9, SI

#define FMAROWX(addr, t, lo, hi) \
	VBROADCASTSS addr, t    \
	VFMADD231PS  Z0, t, lo  \
	VFMADD231PS  Z1, t, hi

// STEPR does one p with A i-major: rows 0-2 of A at SI, SI+R9, SI+2·R9,
// rows 3-5 from R11, 6-8 from R12, 9-11 from R13, each at byte offset off.
#define STEPR(off) \
	BROW                                     \
	FMAROWX(off(SI), Z2, Z8, Z9)             \
	FMAROWX(off(SI)(R9*1), Z3, Z10, Z11)     \
	FMAROWX(off(SI)(R9*2), Z4, Z12, Z13)     \
	FMAROWX(off(R11), Z5, Z14, Z15)          \
	FMAROWX(off(R11)(R9*1), Z6, Z16, Z17)    \
	FMAROWX(off(R11)(R9*2), Z7, Z18, Z19)    \
	FMAROWX(off(R12), Z2, Z20, Z21)          \
	FMAROWX(off(R12)(R9*1), Z3, Z22, Z23)    \
	FMAROWX(off(R12)(R9*2), Z4, Z24, Z25)    \
	FMAROWX(off(R13), Z5, Z26, Z27)          \
	FMAROWX(off(R13)(R9*1), Z6, Z28, Z29)    \
	FMAROWX(off(R13)(R9*2), Z7, Z30, Z31)

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

// func sgemm12x32p(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int, astep, bstep int)
//
// A p-major: element (i, p) at a + 4·(p·astep + i); B element (p, j) at
// b + 4·(p·bstep + j).
TEXT ·sgemm12x32p(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ astep+56(FP), R9
	SHLQ $2, R9
	MOVQ bstep+64(FP), R10
	SHLQ $2, R10
	ROWS(ZERO)
	MOVQ CX, BX
	SHRQ $2, BX
	JEQ  tailp

loop4p:
	STEPP
	STEPP
	STEPP
	STEPP
	DECQ BX
	JNE  loop4p

tailp:
	ANDQ $3, CX
	JEQ  mergep

loop1p:
	STEPP
	DECQ CX
	JNE  loop1p

mergep:
	MOVQ         ldc+32(FP), R8
	SHLQ         $2, R8
	VBROADCASTSS alpha+40(FP), Z0
	ROWS(SCALE)
	MOVQ         mode+48(FP), AX
	CMPQ         AX, $1
	JEQ          accump
	CMPQ         AX, $2
	JEQ          blendp
	ROWS(STORE)
	VZEROUPPER
	RET

accump:
	ROWS(ACCUM)
	VZEROUPPER
	RET

blendp:
	VBROADCASTSS beta+44(FP), Z1
	ROWS(BLEND)
	VZEROUPPER
	RET

// func sgemm12x32r(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int, astride, bstep int)
//
// A i-major: element (i, p) at a + 4·(i·astride + p); B as sgemm12x32p.
TEXT ·sgemm12x32r(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ astride+56(FP), R9
	SHLQ $2, R9
	MOVQ bstep+64(FP), R10
	SHLQ $2, R10
	LEAQ (SI)(R9*2), R11
	ADDQ R9, R11
	LEAQ (R11)(R9*2), R12
	ADDQ R9, R12
	LEAQ (R12)(R9*2), R13
	ADDQ R9, R13
	ROWS(ZERO)
	MOVQ CX, BX
	SHRQ $2, BX
	JEQ  tailr

loop4r:
	STEPR(0)
	STEPR(4)
	STEPR(8)
	STEPR(12)
	ADDQ $16, SI
	ADDQ $16, R11
	ADDQ $16, R12
	ADDQ $16, R13
	DECQ BX
	JNE  loop4r

tailr:
	ANDQ $3, CX
	JEQ  merger

loop1r:
	STEPR(0)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, R13
	DECQ CX
	JNE  loop1r

merger:
	MOVQ         ldc+32(FP), R8
	SHLQ         $2, R8
	VBROADCASTSS alpha+40(FP), Z0
	ROWS(SCALE)
	MOVQ         mode+48(FP), AX
	CMPQ         AX, $1
	JEQ          accumr
	CMPQ         AX, $2
	JEQ          blendr
	ROWS(STORE)
	VZEROUPPER
	RET

accumr:
	ROWS(ACCUM)
	VZEROUPPER
	RET

blendr:
	VBROADCASTSS beta+44(FP), Z1
	ROWS(BLEND)
	VZEROUPPER
	RET
