#!/usr/bin/env bash
# bench-cpu-peer.sh: the CPU engine's sgemm (every matmul kernel this CPU
# runs) beside OpenBLAS (Debian's numpy) in one run, on cpu.PeerShapes.
#
#   scripts/bench-cpu-peer.sh [THREADS [ROUNDS]]     (defaults: nproc, 3)
#
# Needs Debian's numpy: apt-get install -y python3-numpy libopenblas0.
# Rounds alternate engine and OpenBLAS so both see the same machine load;
# each figure is the best over ROUNDS×3 timings of 0.2 s. OPENBLAS_CORETYPE
# and OPENBLAS_L2_SIZE are unset for the OpenBLAS run only (they slow a
# current OpenBLAS); the kernel it then ran is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
rounds=${2:-3}
py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "bench-cpu-peer: $py has no numpy: apt-get install -y python3-numpy libopenblas0" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/cpupeer" ./scripts/cpupeer
"$tmp/cpupeer" -list > "$tmp/shapes"
for r in $(seq "$rounds"); do
	echo "round $r/$rounds" >&2
	GOMAXPROCS=$threads "$tmp/cpupeer" -threads "$threads" >> "$tmp/results"
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" \
		$py scripts/peer/openblas_sgemm.py < "$tmp/shapes" >> "$tmp/results"
done
$py - "$tmp/results" "$threads" <<'PY'
import json, sys
rows, order, impls, core = {}, [], [], ""
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["name"] not in order:
        order.append(r["name"])
    if r["impl"] not in impls:
        impls.append(r["impl"])
    core = r.get("core", core)
    key = (r["name"], r["impl"])
    rows[key] = max(rows.get(key, 0), r["gflops"])
eng = [i for i in impls if i != "openblas"]
print("sgemm GFLOP/s, %s threads, best of the rounds; OpenBLAS kernel: %s" % (sys.argv[2], core))
head = "%-22s" % "shape" + "".join("%16s" % i for i in impls) + "".join("%18s" % ("%s/oblas" % i.split()[-1]) for i in eng)
print(head)
for n in order:
    ob = rows.get((n, "openblas"), 0)
    line = "%-22s" % n + "".join("%16.1f" % rows.get((n, i), 0) for i in impls)
    line += "".join("%18.2f" % (rows.get((n, i), 0) / ob if ob else 0) for i in eng)
    print(line)
PY
