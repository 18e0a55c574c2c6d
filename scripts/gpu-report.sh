#!/usr/bin/env bash
# gpu-report.sh: every GPU check of the moment in one go, ON the GPU machine,
# from the repo root, with the binaries built here by scripts/build-gpu.sh:
#   1. bin/gpu.test -test.v -test.run .   (op table vs float64 references,
#      tensor-core attention / large-vocabulary sampling / bf16 loss vs the
#      CPU engine)
#   2. the benchmarks (attention fwd+bwd, top-p sampling, fused PG loss, GEMM)
#   3. the PyTorch peers in scripts/peer/ on the same card
# Writes $OUT/report.json and $OUT/report.md (OUT defaults to ./gpu-report)
# and prints the short table last. Plan: well under 5 minutes.
# Targets: attention >= 0.6x SDPA, top-p >= 3x sort-based, PG loss faster
# than torch.compile with <= 1/4 of eager's extra memory, GEMM >= 0.9x torch.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-report}"
mkdir -p "$OUT"
export SIRL_KERNEL_CACHE="${SIRL_KERNEL_CACHE:-/tmp/sirl-kernel-cache}"
T0=$(date +%s)
log() { echo "[gpu-report +$(($(date +%s) - T0))s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$OUT/gpu.txt" 2>&1 || true
log "GPU: $(cat "$OUT/gpu.txt")"

if [ ! -x bin/gpu.test ]; then
	echo "gpu-report: bin/gpu.test missing: run scripts/build-gpu.sh on the build machine first" >&2
	exit 2
fi

log "op table and engine checks"
timeout 180 bin/gpu.test -test.v -test.run . -test.timeout 170s >"$OUT/tests.txt" 2>&1
echo "exit=$?" >>"$OUT/tests.txt"
grep -E "^(--- |ok|FAIL|PASS)|device:" "$OUT/tests.txt" | tail -n 5

log "benchmarks"
timeout 150 bin/gpu.test -test.run '^$' -test.bench . -test.benchtime 5x -test.timeout 140s >"$OUT/bench.txt" 2>&1
echo "exit=$?" >>"$OUT/bench.txt"
grep -E "^Benchmark" "$OUT/bench.txt"

: >"$OUT/peers.jsonl"
for p in attention sample gemm pgloss; do
	log "peer $p"
	(cd scripts/peer && timeout 120 python3 "$p.py") >>"$OUT/peers.jsonl" 2>"$OUT/peer-$p.err" ||
		echo "{\"op\": \"$p\", \"error\": \"exit $?, see peer-$p.err\"}" >>"$OUT/peers.jsonl"
done

log "report: $OUT/report.json, $OUT/report.md"
python3 - "$OUT" <<'PY'
import json, re, sys, os
out = sys.argv[1]
def read(name):
    try:
        return open(os.path.join(out, name)).read()
    except OSError:
        return ""

tests = read("tests.txt")
passed = re.findall(r"^\s*--- PASS: (\S+)", tests, re.M)
failed = re.findall(r"^\s*--- FAIL: (\S+)", tests, re.M)
skipped = re.findall(r"^\s*--- SKIP: (\S+)", tests, re.M)
device = (re.findall(r"device: (.*)", tests) or [""])[0]

bench = {}
for line in read("bench.txt").splitlines():
    m = re.match(r"^(Benchmark\w+)(?:-\d+)?\s+\d+\s+(.*)$", line)
    if not m:
        continue
    f = m.group(2).split()
    bench[m.group(1)] = {f[i + 1]: float(f[i]) for i in range(0, len(f) - 1, 2)}

peers = {}
for line in read("peers.jsonl").splitlines():
    try:
        d = json.loads(line)
        peers[d["op"]] = d
    except (ValueError, KeyError):
        pass

def g(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d

rows = []
def row(op, ours, peer, unit, ratio, target, ok):
    rows.append({"op": op, "ours": ours, "pytorch": peer, "unit": unit, "ratio": ratio, "target": target,
                 "pass": ok})

a, ap = g(bench, "BenchmarkAttention", "TFLOP/s"), g(peers, "attention", "tflops")
r = a / ap if a and ap else None
row("attention fwd+bwd B8 H16 T2048 D128 bf16", a, ap, "TFLOP/s", r, ">= 0.6x SDPA", r is not None and r >= 0.6)
s, sp = g(bench, "BenchmarkSampleTopP", "ms/sample"), g(peers, "sample_topp", "ms")
r = sp / s if s and sp else None
row("top-p sampling B256 x V151936", s, sp, "ms", r, ">= 3x faster than sort-based", r is not None and r >= 3)
l, lc, le = g(bench, "BenchmarkPGLoss", "ms/fwdbwd"), g(peers, "pg_loss", "compile_ms"), g(peers, "pg_loss", "eager_ms")
mem, memc, meme = g(bench, "BenchmarkPGLoss", "extra_GiB"), g(peers, "pg_loss", "compile_extra_gib"), g(peers, "pg_loss", "eager_extra_gib")
r = lc / l if l and lc else None
okm = mem is not None and meme is not None and mem <= meme / 4
row("PG loss fwd+bwd N16384 d768 V32768 (vs compile)", l, lc, "ms", r, "faster than torch.compile", r is not None and r > 1)
row("PG loss extra memory (vs eager)", mem, meme, "GiB", (meme / mem) if mem and meme else None,
    "<= 1/4 of eager", okm)
m_, mp = g(bench, "BenchmarkGEMM", "TFLOP/s"), g(peers, "gemm", "tflops")
r = m_ / mp if m_ and mp else None
row("GEMM 4096^3 bf16", m_, mp, "TFLOP/s", r, ">= 0.9x torch.matmul", r is not None and r >= 0.9)

report = {"gpu": read("gpu.txt").strip(), "engine": device,
          "tests": {"passed": len(passed), "failed": failed, "skipped": skipped},
          "benchmarks": bench, "peers": peers, "table": rows,
          "extra": {"pg_loss_eager_ms": le, "pg_loss_compile_extra_gib": memc,
                    "attention_fwd_tflops": g(bench, "BenchmarkAttention", "fwd_TFLOP/s"),
                    "sdpa_fwd_tflops": g(peers, "attention", "fwd_tflops")}}
json.dump(report, open(os.path.join(out, "report.json"), "w"), indent=2)

fmt = lambda x: "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))
md = [f"# GPU report", "", f"GPU: {report['gpu']}", "", f"Engine: {device}", "",
      f"Op table and checks: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped",
      "" if not failed else "Failed: " + ", ".join(failed), "",
      "| op | ours | PyTorch | unit | ratio | target | pass |", "|---|---|---|---|---|---|---|"]
for x in rows:
    md.append(f"| {x['op']} | {fmt(x['ours'])} | {fmt(x['pytorch'])} | {x['unit']} | {fmt(x['ratio'])} | {x['target']} | {'PASS' if x['pass'] else 'FAIL'} |")
open(os.path.join(out, "report.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md[4:]))
PY
