"""The sirl transformer in PyTorch, for the end-to-end peers (e2e_train.py,
e2e_generate.py): a Llama-style decoder with the shapes of sirl's model presets
(model/config.go): token embedding, per block RMSNorm -> q/k/v projections (no
bias) -> RoPE (rotate-half, theta 10000) -> causal SDPA -> o_proj -> residual,
RMSNorm -> SwiGLU MLP (gate, up, down) -> residual; final RMSNorm; LM head tied
to the embedding as in the gpt2-small preset (untied with --untied).

FLOPs per trained token follow the sirl bench convention (bench/e2e.go):
6 * N + 12 * L * d * T, N the parameters of the matmuls (the LM head counted
once, the embedding lookup not when the head is untied)."""
import argparse
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

PEAK_TFLOPS = 989.0  # H100 SXM dense bf16, the MFU denominator of the report


def add_model_args(p: argparse.ArgumentParser):
    """The model shape flags; defaults are the gpt2-small preset at vocab 32768."""
    p.add_argument("--vocab", type=int, default=32768)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--kv-heads", type=int, default=12)
    p.add_argument("--ffn", type=int, default=3072)
    p.add_argument("--max-seq", type=int, default=1024)
    p.add_argument("--untied", action="store_true")
    p.add_argument("--seed", type=int, default=1)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.kvh, self.hd = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm = nn.RMSNorm(a.dim, eps=1e-5)
        self.q = nn.Linear(a.dim, a.heads * self.hd, bias=False)
        self.k = nn.Linear(a.dim, a.kv_heads * self.hd, bias=False)
        self.v = nn.Linear(a.dim, a.kv_heads * self.hd, bias=False)
        self.o = nn.Linear(a.heads * self.hd, a.dim, bias=False)
        self.mlp_norm = nn.RMSNorm(a.dim, eps=1e-5)
        self.gate = nn.Linear(a.dim, a.ffn, bias=False)
        self.up = nn.Linear(a.dim, a.ffn, bias=False)
        self.down = nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x, cos, sin, cache=None, start=0):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.kvh, self.hd).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            kc, vc = cache
            kc[:, :, start:start + T] = k
            vc[:, :, start:start + T] = v
            k, v = kc[:, :, :start + T], vc[:, :, :start + T]
        # Causal within a fresh sequence (training, prefill at start 0); a
        # decode step (T == 1) attends to everything cached.
        assert T == 1 or start == 0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, enable_gqa=self.h != self.kvh)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, self.h * self.hd))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = nn.RMSNorm(a.dim, eps=1e-5)
        self.head = nn.Linear(a.dim, a.vocab, bias=False)
        if not a.untied:
            self.head.weight = self.embed.weight
        hd = a.dim // a.heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(a.max_seq, dtype=torch.float32), inv)
        emb = torch.cat((f, f), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        std, resid = 0.02, 0.02 / (2 * a.layers) ** 0.5
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=resid if n.endswith(("o.weight", "down.weight")) else std)

    def forward(self, idx, cache=None, start=0):
        T = idx.shape[1]
        cos, sin = self.cos[start:start + T], self.sin[start:start + T]
        x = self.embed(idx)
        for i, b in enumerate(self.blocks):
            x = b(x, cos, sin, None if cache is None else cache[i], start)
        return self.head(self.norm(x))

    def new_cache(self, batch, length, dtype):
        a = self.a
        shape = (batch, a.kv_heads, length, a.dim // a.heads)
        dev = self.embed.weight.device
        return [(torch.empty(shape, device=dev, dtype=dtype), torch.empty(shape, device=dev, dtype=dtype))
                for _ in range(a.layers)]


def matmul_params(model: Model) -> int:
    """Parameters of the matmuls: all of them (a tied head counted once),
    less the embedding table when the head is untied."""
    n = sum(p.numel() for p in model.parameters())
    if model.a.untied:
        n -= model.embed.weight.numel()
    return n


def flops_per_token(model: Model, T: int) -> float:
    a = model.a
    return 6.0 * matmul_params(model) + 12.0 * a.layers * a.dim * T


def emit(**kv):
    """Print one JSON line (the report script collects them)."""
    if torch.cuda.is_available():
        kv["device"] = torch.cuda.get_device_name()
    kv["torch"] = torch.__version__
    json.dump(kv, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
