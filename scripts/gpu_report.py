"""Builds report.json and report.md from the files scripts/gpu-report.sh wrote
into OUT (tests.txt, bench.txt, peers.jsonl, e2e.json, gpu.txt) and prints the
table. Usage: python3 scripts/gpu_report.py OUT. Needs only the standard library."""
import json
import os
import re
import sys


def read(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read()
    except OSError:
        return ""


def g(d, *ks):
    """d[k0][k1]... or None when any level is missing."""
    for k in ks:
        if isinstance(d, list) and isinstance(k, int) and -len(d) <= k < len(d):
            d = d[k]
        elif isinstance(d, dict) and k in d:
            d = d[k]
        else:
            return None
    return d


def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a and b else None


def main(out):
    tests = read(out, "tests.txt")
    passed = re.findall(r"^\s*--- PASS: (\S+)", tests, re.M)
    failed = re.findall(r"^\s*--- FAIL: (\S+)", tests, re.M)
    skipped = re.findall(r"^\s*--- SKIP: (\S+)", tests, re.M)
    device = (re.findall(r"device: (.*)", tests) or [""])[0]

    bench = {}
    for line in read(out, "bench.txt").splitlines():
        m = re.match(r"^(Benchmark\w+)(?:-\d+)?\s+\d+\s+(.*)$", line)
        if not m:
            continue
        f = m.group(2).split()
        bench[m.group(1)] = {f[i + 1]: float(f[i]) for i in range(0, len(f) - 1, 2)}

    peers = {}
    for line in read(out, "peers.jsonl").splitlines():
        try:
            d = json.loads(line)
            peers[d["op"]] = d
        except (ValueError, KeyError, TypeError):
            pass
    try:
        e2e = json.loads(read(out, "e2e.json") or "null") or {}
    except ValueError:
        e2e = {"error": "e2e.json is not JSON"}

    rows = []

    def row(op, ours, peer, unit, r, target, ok):
        rows.append({"op": op, "ours": ours, "pytorch": peer, "unit": unit, "ratio": r, "target": target, "pass": ok})

    a, ap = g(bench, "BenchmarkAttention", "TFLOP/s"), g(peers, "attention", "tflops")
    r = ratio(a, ap)
    row("attention fwd+bwd B8 H16 T2048 D128 bf16", a, ap, "TFLOP/s", r, ">= 0.6x SDPA", r is not None and r >= 0.6)
    s, sp = g(bench, "BenchmarkSampleTopP", "ms/sample"), g(peers, "sample_topp", "ms")
    r = ratio(sp, s)
    row("top-p sampling B256 x V151936", s, sp, "ms", r, ">= 3x faster than sort-based", r is not None and r >= 3)
    l, lc, le = g(bench, "BenchmarkPGLoss", "ms/fwdbwd"), g(peers, "pg_loss", "compile_ms"), g(peers, "pg_loss", "eager_ms")
    mem, memc, meme = g(bench, "BenchmarkPGLoss", "extra_GiB"), g(peers, "pg_loss", "compile_extra_gib"), g(peers, "pg_loss", "eager_extra_gib")
    r = ratio(lc, l)
    row("PG loss fwd+bwd N16384 d768 V32768 (vs compile)", l, lc, "ms", r, "faster than torch.compile", r is not None and r > 1)
    row("PG loss extra memory (vs eager)", mem, meme, "GiB", ratio(meme, mem), "<= 1/4 of eager",
        mem is not None and meme is not None and mem <= meme / 4)
    m_, mp = g(bench, "BenchmarkGEMM", "TFLOP/s"), g(peers, "gemm", "tflops")
    r = ratio(m_, mp)
    row("GEMM 4096^3 bf16", m_, mp, "TFLOP/s", r, ">= 0.9x torch.matmul", r is not None and r >= 0.9)

    # End to end: (a) training step, (b) generation, (c) RL step split.
    tr, pt = g(e2e, "train") or {}, peers.get("e2e_train", {})
    shape = f"{g(e2e, 'config', 'preset') or '?'} B{tr.get('batch', '?')}xT{tr.get('seq', '?')}"
    ours = tr.get("tokens_per_s")
    r = ratio(ours, pt.get("compile_tokens_per_s"))
    row(f"e2e train step {shape} (vs torch.compile)", ours, pt.get("compile_tokens_per_s"), "tokens/s", r,
        ">= 1.0x torch.compile", r is not None and r >= 1.0)
    row(f"e2e train step {shape} (vs eager)", ours, pt.get("eager_tokens_per_s"), "tokens/s",
        ratio(ours, pt.get("eager_tokens_per_s")), "-", None)
    mfu = tr.get("mfu")
    row("e2e train MFU of 989 TFLOP/s (PyTorch: compile)", None if mfu is None else 100 * mfu,
        None if pt.get("compile_mfu") is None else 100 * pt["compile_mfu"], "%", None, ">= 40 %",
        mfu is not None and mfu >= 0.40)
    gen, pg = g(e2e, "generate") or {}, peers.get("e2e_generate", {})
    gshape = f"{gen.get('prompts', '?')}x{gen.get('new_tokens', '?')}"
    ours = gen.get("tokens_per_s")
    r = ratio(ours, pg.get("kv_loop_tokens_per_s"))
    row(f"e2e generate {gshape} (vs PyTorch KV-cache loop)", ours, pg.get("kv_loop_tokens_per_s"), "tokens/s", r,
        ">= 2x", r is not None and r >= 2)
    r = ratio(ours, pg.get("hf_generate_tokens_per_s"))
    row(f"e2e generate {gshape} (vs HF generate)", ours, pg.get("hf_generate_tokens_per_s"), "tokens/s", r,
        ">= 8x", r is not None and r >= 8)
    methods = {m.get("method"): m for m in (g(e2e, "rl", "methods") or [])}
    base = g(methods, "grpo", "step_seconds")
    for name, m in methods.items():
        split = "/".join(f"{1e3 * (m.get(k) or 0):.0f}" for k in
                         ("generation_seconds", "identify_seconds", "correct_seconds", "training_seconds", "other_seconds"))
        row(f"e2e RL step {name}: gen/identify/correct/train/other {split} ms, mixed groups {m.get('groups_mixed', 0):.2f}",
            1e3 * m["step_seconds"] if m.get("step_seconds") else None, None, "ms", ratio(m.get("step_seconds"), base),
            "-", None)
    r = ratio(g(methods, "sirl-repair", "step_seconds"), base)
    worked = bool(g(methods, "sirl-repair", "groups_mixed")) and bool(g(methods, "sirl-repair", "tokens_trained"))
    row("e2e RL step sirl-repair / grpo" + ("" if worked or r is None else " (NOT measured: no mixed group or nothing trained)"),
        r, None, "x", r, "<= 1.5x a grpo step", (r is not None and r <= 1.5) if worked or r is None else None)

    report = {"gpu": read(out, "gpu.txt").strip(), "engine": device,
              "tests": {"passed": len(passed), "failed": failed, "skipped": skipped},
              "benchmarks": bench, "peers": peers, "e2e": e2e, "table": rows,
              "extra": {"pg_loss_eager_ms": le, "pg_loss_compile_extra_gib": memc,
                        "attention_fwd_tflops": g(bench, "BenchmarkAttention", "fwd_TFLOP/s"),
                        "sdpa_fwd_tflops": g(peers, "attention", "fwd_tflops"),
                        "e2e_device": e2e.get("device"), "e2e_activation_dtype": tr.get("activation_dtype"),
                        "e2e_params": tr.get("params"), "peer_params": pt.get("params"),
                        "e2e_params_match": tr.get("params") is not None and tr.get("params") == pt.get("params"),
                        "rl_start_accuracy": g(e2e, "rl", "start_greedy_accuracy")}}
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)

    def fmt(x):
        return "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))

    verdict = {True: "PASS", False: "FAIL", None: "-"}
    md = ["# GPU report", "", f"GPU: {report['gpu']}", "", f"Engine: {device}", "",
          f"Op table and checks: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped",
          "" if not failed else "Failed: " + ", ".join(failed), "",
          f"End to end: {e2e.get('device', 'not run (see stderr.txt)')}; model parameters ours {fmt(tr.get('params'))}, "
          f"PyTorch {fmt(pt.get('params'))}; activations {fmt(tr.get('activation_dtype'))}", "",
          "| op | ours | PyTorch | unit | ratio | target | pass |", "|---|---|---|---|---|---|---|"]
    for x in rows:
        md.append(f"| {x['op']} | {fmt(x['ours'])} | {fmt(x['pytorch'])} | {x['unit']} | {fmt(x['ratio'])} | {x['target']} | {verdict[x['pass']]} |")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md[4:]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gpu-report")
