"""Peer: OpenBLAS sgemm through Debian's numpy on the CPU engine's shapes.

Reads shapes (JSON lines as `go run ./scripts/cpupeer -list` prints them) on
stdin and answers each at once with one JSON line {"impl", "name", "gflops",
"core"}: the best of --rounds timings of at least --min seconds. A shape seen
before reuses its matrices. Run it with /usr/bin/python3 (Debian's numpy
links OpenBLAS); scripts/cpupeer runs it beside the engine.
"""
import argparse
import ctypes
import ctypes.util
import json
import sys
import time

import numpy as np


def corename():
    """The OpenBLAS kernel (core) and thread count numpy's BLAS runs, if it is OpenBLAS."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return "%s, %d threads (%s)" % (lib.openblas_get_corename().decode(), lib.openblas_get_num_threads(),
                                            lib.openblas_get_config().decode())
        except (OSError, AttributeError):
            continue
    return "not OpenBLAS"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min", type=float, default=0.2)
    ap.add_argument("--cputime", action="store_true",
                    help="time by this thread's CPU time (with OPENBLAS_NUM_THREADS=1 the product runs on it)")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    core = corename()
    mats = {}
    for line in sys.stdin:
        s = json.loads(line)
        m, n, k = s["m"], s["n"], s["k"]
        if s["name"] not in mats:
            a = rng.standard_normal((k, m) if s["TransA"] else (m, k), dtype=np.float32)
            b = rng.standard_normal((n, k) if s["TransB"] else (k, n), dtype=np.float32)
            mats[s["name"]] = (a.T if s["TransA"] else a, b.T if s["TransB"] else b, np.empty((m, n), dtype=np.float32))
        a, b, c = mats[s["name"]]
        np.matmul(a, b, out=c)
        clock = time.thread_time if args.cputime else time.perf_counter
        best = 0.0
        for _ in range(args.rounds):
            reps, start = 0, clock()
            while reps == 0 or clock() - start < args.min:
                np.matmul(a, b, out=c)
                reps += 1
            best = max(best, reps * 2.0 * m * n * k / (clock() - start) / 1e9)
        json.dump({"impl": "openblas", "name": s["name"], "gflops": best, "core": core, "numpy": np.__version__}, sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
