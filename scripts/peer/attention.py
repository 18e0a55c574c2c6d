"""Peer: causal SDPA forward + backward (default backend), B8 H16 T2048 D128 bf16."""
import torch
import torch.nn.functional as F

from common import emit, time_ms

B, H, T, D = 8, 16, 2048, 128
q, k, v = (torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
dy = torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16)


def fwd():
    with torch.no_grad():
        F.scaled_dot_product_attention(q, k, v, is_causal=True)


def fwd_bwd():
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    q.grad = k.grad = v.grad = None
    out.backward(dy)


flops = 4 * B * H * T * T * D / 2
ms_f = time_ms(fwd)
ms = time_ms(fwd_bwd)
emit(op="attention", shape="B8 H16 T2048 D128 bf16", fwd_ms=ms_f, fwd_tflops=flops / ms_f / 1e9,
     ms=ms, tflops=3.5 * flops / ms / 1e9)
