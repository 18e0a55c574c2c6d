"""Shared timing helpers for the PyTorch peer baselines (run on the GPU machine)."""
import json
import sys

import torch


def time_ms(fn, warmup=3, iters=10):
    """Median milliseconds of fn() measured with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def emit(**kv):
    """Print one JSON object (the report script collects them)."""
    kv["device"] = torch.cuda.get_device_name()
    kv["torch"] = torch.__version__
    json.dump(kv, sys.stdout)
    sys.stdout.write("\n")
