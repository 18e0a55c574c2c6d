"""Peer: torch.matmul 4096^3 bf16."""
import torch

from common import emit, time_ms

n = 4096
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
ms = time_ms(lambda: torch.matmul(a, b), warmup=5, iters=20)
emit(op="gemm", shape="4096^3 bf16", ms=ms, tflops=2 * n**3 / ms / 1e9)
