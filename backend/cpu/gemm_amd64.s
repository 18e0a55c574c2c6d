//go:build amd64 && !purego

#include "textflag.h"

// Row i of the tile is in Y(4+2i) (columns 0-7) and Y(5+2i) (columns 8-15).
#define ROWS(OP) \
	OP(Y4, Y5) \
	OP(Y6, Y7) \
	OP(Y8, Y9) \
	OP(Y10, Y11) \
	OP(Y12, Y13) \
	OP(Y14, Y15)

#define SCALE(lo, hi) \
	VMULPS Y0, lo, lo \
	VMULPS Y0, hi, hi

#define STORE(lo, hi) \
	VMOVUPS lo, (DX) \
	VMOVUPS hi, 32(DX) \
	ADDQ    R8, DX

#define ACCUM(lo, hi) \
	VADDPS  (DX), lo, lo \
	VADDPS  32(DX), hi, hi \
	VMOVUPS lo, (DX) \
	VMOVUPS hi, 32(DX) \
	ADDQ    R8, DX

#define BLEND(lo, hi) \
	VMULPS  (DX), Y1, Y2 \
	VMULPS  32(DX), Y1, Y3 \
	VADDPS  Y2, lo, lo \
	VADDPS  Y3, hi, hi \
	VMOVUPS lo, (DX) \
	VMOVUPS hi, 32(DX) \
	ADDQ    R8, DX

// func sgemm6x16(kc int, a, b, c unsafe.Pointer, ldc int, alpha, beta float32, mode int)
TEXT ·sgemm6x16(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	TESTQ CX, CX
	JEQ   merge

loop:
	VMOVUPS      (DI), Y0
	VMOVUPS      32(DI), Y1
	VBROADCASTSS (SI), Y2
	VFMADD231PS  Y0, Y2, Y4
	VFMADD231PS  Y1, Y2, Y5
	VBROADCASTSS 4(SI), Y3
	VFMADD231PS  Y0, Y3, Y6
	VFMADD231PS  Y1, Y3, Y7
	VBROADCASTSS 8(SI), Y2
	VFMADD231PS  Y0, Y2, Y8
	VFMADD231PS  Y1, Y2, Y9
	VBROADCASTSS 12(SI), Y3
	VFMADD231PS  Y0, Y3, Y10
	VFMADD231PS  Y1, Y3, Y11
	VBROADCASTSS 16(SI), Y2
	VFMADD231PS  Y0, Y2, Y12
	VFMADD231PS  Y1, Y2, Y13
	VBROADCASTSS 20(SI), Y3
	VFMADD231PS  Y0, Y3, Y14
	VFMADD231PS  Y1, Y3, Y15
	ADDQ         $24, SI
	ADDQ         $64, DI
	DECQ         CX
	JNE          loop

merge:
	MOVQ         ldc+32(FP), R8
	SHLQ         $2, R8
	VBROADCASTSS alpha+40(FP), Y0
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
	VBROADCASTSS beta+44(FP), Y1
	ROWS(BLEND)
	VZEROUPPER
	RET
