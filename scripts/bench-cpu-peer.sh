#!/usr/bin/env bash
# bench-cpu-peer.sh: the CPU engine's sgemm (each assembly matmul kernel this
# CPU runs) beside OpenBLAS (Debian's numpy) in one run, on cpu.PeerShapes,
# with the engine/OpenBLAS ratios.
#
#   scripts/bench-cpu-peer.sh [THREADS [ROUNDS]]     (defaults: nproc, 3)
#   scripts/bench-cpu-peer.sh cputime [ROUNDS]
#
# The cputime form runs both on one thread and times each by the CPU time of
# the thread doing the product, which a busy (shared) machine disturbs far
# less than the wall clock.
#
# Needs Debian's numpy: apt-get install -y python3-numpy libopenblas0.
# Each round times every shape on the engine and then on OpenBLAS (a
# long-lived numpy process), so both see the same machine load; each figure
# is the best of ROUNDS timings of 0.2 s. OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset for the OpenBLAS process only (they slow a
# current OpenBLAS); the kernel it then ran is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
rounds=${2:-3}
flags=()
if [ "$threads" = cputime ]; then
	threads=1
	flags=(--cputime)
fi
py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "bench-cpu-peer: $py has no numpy: apt-get install -y python3-numpy libopenblas0" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/cpupeer" ./scripts/cpupeer
GOMAXPROCS=$threads "$tmp/cpupeer" -threads "$threads" -rounds "$rounds" "${flags[@]}" \
	-peer "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=$threads $py scripts/peer/openblas_sgemm.py --rounds 1 ${flags[*]}"
