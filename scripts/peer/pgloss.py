"""Peer: clipped policy-gradient loss through hidden -> lm_head -> log_softmax,
forward + backward, N16384 d768 V32768 bf16, eager and torch.compile; reports
time and the extra memory (max_memory_allocated delta over the step). It does
not compute the entropy, which the sirl kernel also returns."""
import torch

from common import emit, time_ms

N, D, V = 16384, 768, 32768
EPS = 0.2
torch.manual_seed(0)
hidden = torch.randn(N, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
head = (torch.randn(V, D, device="cuda", dtype=torch.bfloat16) * 0.05).requires_grad_(True)
targets = torch.randint(0, V, (N,), device="cuda")
adv = torch.randn(N, device="cuda")
old = torch.randn(N, device="cuda") * 0.1 - 10
weight = torch.full((N,), 1.0 / N, device="cuda")


def loss_fn(hidden, head):
    logits = (hidden @ head.t()).float()
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(1, targets[:, None]).squeeze(1)
    ratio = torch.exp(logp - old)
    obj = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - EPS, 1 + EPS) * adv)
    return -(weight * obj).sum()


def step(fn):
    def run():
        hidden.grad = head.grad = None
        loss = fn(hidden, head)
        loss.backward()
    return run


def extra_gib(run):
    run()
    torch.cuda.synchronize()
    hidden.grad = head.grad = None
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    run()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**30


eager = step(loss_fn)
compiled = step(torch.compile(loss_fn))
res = {}
for name, run in (("eager", eager), ("compile", compiled)):
    res[name + "_extra_gib"] = extra_gib(run)
    res[name + "_ms"] = time_ms(run)
emit(op="pg_loss", shape="N16384 d768 V32768 bf16", **res)
