//go:build amd64 && !purego

#include "textflag.h"

// Constants of the Cephes expf polynomial: scalars for broadcasts, then
// 8-wide vectors for memory operands.
#define VEC8(off, val) \
	DATA expc<>+(off+0)(SB)/4, val \
	DATA expc<>+(off+4)(SB)/4, val \
	DATA expc<>+(off+8)(SB)/4, val \
	DATA expc<>+(off+12)(SB)/4, val \
	DATA expc<>+(off+16)(SB)/4, val \
	DATA expc<>+(off+20)(SB)/4, val \
	DATA expc<>+(off+24)(SB)/4, val \
	DATA expc<>+(off+28)(SB)/4, val

DATA expc<>+0(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+4(SB)/4, $0x3f318000  // C1 = 0.693359375
DATA expc<>+8(SB)/4, $0xb95e8083  // C2 = −2.12194440e−4
DATA expc<>+12(SB)/4, $0xc2ae0000 // lowest argument −87
DATA expc<>+16(SB)/4, $0x42b00000 // highest argument 88
VEC8(32, $0x39506967)             // P0
VEC8(64, $0x3ab743ce)             // P1
VEC8(96, $0x3c088908)             // P2
VEC8(128, $0x3d2aa9c1)            // P3
VEC8(160, $0x3e2aaaaa)            // P4
VEC8(192, $0x3f000000)            // P5
VEC8(224, $0x3f800000)            // 1.0
VEC8(256, $0x0000007f)            // exponent bias 127
GLOBL expc<>(SB), RODATA|NOPTR, $288

// func expSubAVX2(x unsafe.Pointer, n int, m float32)
// x[i] = exp(x[i] − m) for i < n (n a positive multiple of 8). Arguments
// below −87 give 0, above 88 are clamped; NaN stays NaN.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VBROADCASTSS expc<>+0(SB), Y14
	VBROADCASTSS expc<>+4(SB), Y13
	VBROADCASTSS expc<>+8(SB), Y12
	VBROADCASTSS expc<>+12(SB), Y4
	VBROADCASTSS expc<>+16(SB), Y3

loop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y15, Y0, Y0
	VCMPPS       $5, Y4, Y0, Y1  // mask: !(x < lo), true for NaN
	VMAXPS       Y0, Y4, Y0      // NaN in x survives (second source)
	VMINPS       Y0, Y3, Y0
	VMULPS       Y14, Y0, Y2
	VROUNDPS     $0, Y2, Y2      // k = round(x·log2e)
	VFNMADD231PS Y13, Y2, Y0     // r = x − k·C1
	VFNMADD231PS Y12, Y2, Y0     // r −= k·C2
	VMOVUPS      expc<>+32(SB), Y5
	VFMADD213PS  expc<>+64(SB), Y0, Y5
	VFMADD213PS  expc<>+96(SB), Y0, Y5
	VFMADD213PS  expc<>+128(SB), Y0, Y5
	VFMADD213PS  expc<>+160(SB), Y0, Y5
	VFMADD213PS  expc<>+192(SB), Y0, Y5
	VMULPS       Y0, Y0, Y6
	VFMADD213PS  Y0, Y6, Y5      // p·r² + r
	VADDPS       expc<>+224(SB), Y5, Y5
	VCVTPS2DQ    Y2, Y2
	VPADDD       expc<>+256(SB), Y2, Y2
	VPSLLD       $23, Y2, Y2     // 2^k
	VMULPS       Y2, Y5, Y5
	VANDPS       Y1, Y5, Y5
	VMOVUPS      Y5, (SI)
	ADDQ         $32, SI
	SUBQ         $8, CX
	JNE          loop
	VZEROUPPER
	RET
