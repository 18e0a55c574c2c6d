"""Peer: sort-based top-p sampling as Hugging Face does it, B256 x V151936 fp32, T 1, p 0.9."""
import torch

from common import emit, time_ms

B, V, TOP_P = 256, 151936, 0.9
logits = torch.randn(B, V, device="cuda") * 3


def sample():
    scores = logits / 1.0
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum <= (1 - TOP_P)
    remove[..., -1:] = 0
    remove = remove.scatter(1, sorted_idx, remove)
    scores = scores.masked_fill(remove, -float("inf"))
    probs = scores.softmax(dim=-1)
    tok = torch.multinomial(probs, 1)
    return tok, torch.log_softmax(logits, dim=-1).gather(1, tok)


ms = time_ms(sample)
emit(op="sample_topp", shape="B256 V151936 fp32 p0.9", ms=ms)
