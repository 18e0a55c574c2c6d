// cuda_bf16.h stand-in for the emulator: the kernels handle bf16 as raw
// 16-bit patterns (common.cuh), so nothing beyond the prelude is needed.
#pragma once
