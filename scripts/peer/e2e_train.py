"""Peer of `train bench e2e` part (a): one training step of the sirl model in
PyTorch (e2e_model.py; default the gpt2-small preset at vocab 32768) at B16 x T1024:
fp32 master weights, bf16 autocast, next-token cross-entropy, gradient clipping at 1,
fused AdamW (lr 1e-4, betas 0.9/0.95, weight decay 0.01 on matrices), eager and
torch.compile (the model compiled). Prints one JSON line: tokens/s, ms/step and MFU
(of 989 TFLOP/s) for each mode."""
import argparse
import time

import torch
import torch.nn.functional as F

from e2e_model import PEAK_TFLOPS, Model, add_model_args, emit, flops_per_token, matmul_params


def main():
    p = argparse.ArgumentParser(description=__doc__)
    add_model_args(p)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--no-compile", action="store_true")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    model = Model(a).cuda()
    decay = [q for q in model.parameters() if q.dim() >= 2]
    other = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    data = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device="cuda")
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    N = a.batch * a.seq
    fpt = flops_per_token(model, a.seq)
    res = {"op": "e2e_train", "batch": a.batch, "seq": a.seq, "vocab": a.vocab, "params": sum(q.numel() for q in model.parameters()),
           "matmul_params": matmul_params(model), "flops_per_token": fpt, "peak_tflops": PEAK_TFLOPS}

    def make_step(fwd):
        def step():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = fwd(x)
            loss = F.cross_entropy(logits.float().view(-1, a.vocab), y.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss
        return step

    def measure(name, step):
        t0 = time.perf_counter()
        first = last = None
        for i in range(a.warmup):
            loss = step()
            if i == 0:
                first = loss.item()
        torch.cuda.synchronize()
        res[name + "_warmup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(a.steps):
            loss = step()
        torch.cuda.synchronize()
        sec = (time.perf_counter() - t0) / a.steps
        last = loss.item()
        tps = N / sec
        res.update({name + "_step_ms": sec * 1e3, name + "_tokens_per_s": tps, name + "_tflops": tps * fpt / 1e12,
                    name + "_mfu": tps * fpt / 1e12 / PEAK_TFLOPS, name + "_loss_first": first, name + "_loss_last": last})

    torch.cuda.reset_peak_memory_stats()
    measure("eager", make_step(model))
    res["eager_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if not a.no_compile:
        try:
            measure("compile", make_step(torch.compile(model)))
        except Exception as e:  # report eager even when compile fails
            res["compile_error"] = f"{type(e).__name__}: {e}"[:300]
    emit(**res)


if __name__ == "__main__":
    main()
