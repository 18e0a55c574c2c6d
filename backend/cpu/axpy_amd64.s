//go:build amd64 && !purego

#include "textflag.h"

// func axpyAVX2(dst, x unsafe.Pointer, n int, w float32)
//
// dst[i] += w·x[i] for i < n (a multiple of 8), the product rounded before
// the add (VMULPS, VADDPS: no fused multiply-add), as the scalar loop.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS w+24(FP), Y0
	XORQ         AX, AX

loop:
	CMPQ    AX, CX
	JGE     done
	VMULPS  (SI)(AX*4), Y0, Y1
	VADDPS  (DI)(AX*4), Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     loop

done:
	VZEROUPPER
	RET
