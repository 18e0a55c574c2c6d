#!/usr/bin/env bash
# test-mpi.sh: the MPI build of package dist under mpirun, on CPU.
#   1. installs Open MPI (openmpi-bin, libopenmpi-dev) with apt-get when
#      mpirun or its pkg-config file is missing (CI: fresh Debian, as root);
#   2. builds the dist test binary with -tags mpi (go test -c);
#   3. runs its tests under mpirun with 2 and with 3 ranks (all-reduce sums,
#      bitwise agreement across ranks, broadcast, barrier, the helpers);
#   4. a failing rank, twice: rank 1 of 3 calls Comm.Abort(3, ...), then
#      rank 1 exits with status 4 without MPI_Finalize, while ranks 0 and 2
#      wait in a barrier. The job must end with that rank's status (3, 4)
#      within FAIL_LIMIT seconds (default 20), not hang.
# Every mpirun is bounded by timeout. Exit status 0 only when all pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
FAIL_LIMIT="${FAIL_LIMIT:-20}"

if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c 2>/dev/null; then
	echo "== installing Open MPI"
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 apt-get update -qq && timeout 900 apt-get install -y -qq openmpi-bin libopenmpi-dev pkg-config >/dev/null || {
		echo "test-mpi: could not install Open MPI" >&2
		exit 2
	}
fi

BIN="$(mktemp -d)/dist-mpi.test"
echo "== go test -c -tags mpi ./dist"
timeout 600 go test -c -tags mpi -o "$BIN" ./dist || exit 2

# ms_since T0 prints the milliseconds since T0 (date +%s%N).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

MPIRUN=(mpirun --oversubscribe --allow-run-as-root)
status=0
for np in 2 3; do
	echo "== mpirun -np $np: dist tests"
	t0=$(date +%s%N)
	if timeout 300 "${MPIRUN[@]}" -np "$np" "$BIN" -test.count=1 -test.run 'TestMPI|TestGradReducer'; then
		echo "test-mpi: $np ranks passed in $(ms_since "$t0") ms"
	else
		echo "test-mpi: $np ranks FAILED" >&2
		status=1
	fi
done

for mode_rc in abort:3 crash:4; do
	mode=${mode_rc%:*} want=${mode_rc#*:}
	echo "== mpirun -np 3: rank 1 fails ($mode) while the others wait in a barrier"
	t0=$(date +%s%N)
	timeout "$((FAIL_LIMIT + 10))" "${MPIRUN[@]}" -np 3 -x DIST_ABORT_RANK=1 -x DIST_FAIL_MODE="$mode" \
		"$BIN" -test.count=1 -test.run 'TestMPIFailingRankHelper' >/dev/null 2>&1
	rc=$?
	ms=$(ms_since "$t0")
	if [ "$rc" -ne "$want" ]; then
		echo "test-mpi: failing rank ($mode): exit status $rc after $ms ms, want $want (124: hung until timeout)" >&2
		status=1
	elif [ "$ms" -gt "$((FAIL_LIMIT * 1000))" ]; then
		echo "test-mpi: failing rank ($mode): exit status $rc but only after $ms ms (limit ${FAIL_LIMIT} s)" >&2
		status=1
	else
		echo "test-mpi: failing rank ($mode): job ended with exit status $rc after $ms ms"
	fi
done
rm -f "$BIN"
exit $status
