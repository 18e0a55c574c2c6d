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
#      within FAIL_LIMIT seconds (default 20), not hang;
#   5. data-parallel training with the MPI build of the train command (tiny
#      model, CPU, one thread a rank): SFT then RL (GRPO, 2 minibatches) on
#      2 and 3 ranks ends with bitwise the same parameters on every rank
#      (the run checks and logs it) and within DP_TOL (1e-4; see
#      dpTolerance in train/dp_test.go) of the same run on 1 rank, SFT and
#      RL compared separately; rank 1 given an unreadable data file ends the
#      job non-zero within FAIL_LIMIT seconds while rank 0 waits in a
#      collective; rank 1 killed mid-run ends the job within FAIL_LIMIT
#      seconds, and the checkpoint rank 0 wrote resumes on 2 ranks bitwise
#      equal to an uninterrupted 2-rank run, and on 1 rank.
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

# --- 5. data-parallel training -------------------------------------------
TRAIN="$(mktemp -d)/train-mpi"
WORK="$(mktemp -d)"
DP_TOL="${DP_TOL:-1e-4}"
echo "== go build -tags mpi (the train command)"
timeout 600 go build -tags mpi -o "$TRAIN" . || exit 2
timeout 300 go build -o "$WORK/ckptdiff" ./scripts/ckptdiff || exit 2
TINY=(--model.preset tiny --task.train_min 1 --task.train_max 1 --task.mod 11 --task.heldout 16 --task.hard 8
	--task.max_response_len 40 --threads 1 --seed 1)
SFT=(sft "${TINY[@]}" --sft.steps 60 --sft.batch_size 16 --sft.optim.lr 3e-3 --sft.optim.warmup_steps 2 --sft.eval_every 0)
RL=(rl "${TINY[@]}" --rl.steps 3 --rl.prompts_per_step 7 --rl.num_generations 8 --rl.optim.lr 1e-3 --rl.minibatches 2)

# fail prints its arguments and marks the run failed.
fail() { echo "test-mpi: $*" >&2; status=1; }

# train_np NP OUT ARGS... runs the train command on NP ranks (1: no mpirun).
train_np() {
	local np=$1 out=$2
	shift 2
	if [ "$np" -eq 1 ]; then
		timeout 600 "$TRAIN" "$@" --out "$out" 2>"$out.log"
	else
		timeout 600 "${MPIRUN[@]}" -np "$np" "$TRAIN" "$@" --out "$out" 2>"$out.log" >/dev/null
	fi
}

echo "== 1 rank: SFT, then RL from its checkpoint"
train_np 1 "$WORK/sft1" "${SFT[@]}" || fail "1-rank SFT failed: $(tail -3 "$WORK/sft1.log")"
train_np 1 "$WORK/rl1" "${RL[@]}" --checkpoint "$WORK/sft1/final.safetensors" ||
	fail "1-rank RL failed: $(tail -3 "$WORK/rl1.log")"
for np in 2 3; do
	for st in sft rl; do
		echo "== mpirun -np $np: $st"
		t0=$(date +%s%N)
		if [ "$st" = sft ]; then
			train_np "$np" "$WORK/$st$np" "${SFT[@]}"
		else
			train_np "$np" "$WORK/$st$np" "${RL[@]}" --checkpoint "$WORK/sft1/final.safetensors"
		fi
		rc=$?
		if [ "$rc" -ne 0 ]; then
			fail "$st on $np ranks: exit status $rc: $(tail -3 "$WORK/$st$np.log")"
			continue
		fi
		grep -q "parameters bitwise identical on $np ranks" "$WORK/$st$np.log" ||
			fail "$st on $np ranks: no parameter agreement line in the log"
		"$WORK/ckptdiff" "$WORK/${st}1/final.safetensors" "$WORK/$st$np/final.safetensors" "$DP_TOL" ||
			fail "$st on $np ranks differs from 1 rank"
		echo "test-mpi: $st on $np ranks passed in $(ms_since "$t0") ms"
	done
done

echo "== mpirun -np 2: rank 1 reads a data file that does not exist"
t0=$(date +%s%N)
timeout "$((FAIL_LIMIT + 10))" "${MPIRUN[@]}" -np 1 "$TRAIN" "${SFT[@]}" --out "$WORK/bad" : \
	-np 1 "$TRAIN" "${SFT[@]}" --task.name jsonl --task.train_file "$WORK/missing.jsonl" --out "$WORK/bad" \
	>/dev/null 2>"$WORK/bad.log"
rc=$? ms=$(ms_since "$t0")
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
	fail "bad input on rank 1: exit status $rc after $ms ms (124: hung until timeout)"
elif [ "$ms" -gt "$((FAIL_LIMIT * 1000))" ]; then
	fail "bad input on rank 1: exit status $rc only after $ms ms"
elif ! grep -q "missing.jsonl" "$WORK/bad.log"; then
	fail "bad input on rank 1: the error does not name the file: $(tail -3 "$WORK/bad.log")"
else
	echo "test-mpi: bad input on rank 1: job ended with exit status $rc after $ms ms"
fi

echo "== mpirun -np 2: rank 1 killed mid-run; rank 0's checkpoint resumes on 2 ranks exactly, and on 1"
# 600 tiny steps: several seconds, longer than the kill takes.
KILLED=("${SFT[@]}" --sft.steps 600 --checkpoint_every 5)
train_np 2 "$WORK/ref2" "${KILLED[@]}" || fail "uninterrupted 2-rank run failed: $(tail -3 "$WORK/ref2.log")"
"${MPIRUN[@]}" -np 2 "$TRAIN" "${KILLED[@]}" --out "$WORK/kill" \
	>/dev/null 2>"$WORK/kill.log" &
job=$!
for _ in $(seq 1 600); do
	[ -f "$WORK/kill/checkpoint.safetensors" ] && break
	sleep 0.1
done
# The ranks are mpirun's children (via its daemon where there is one): the
# one whose environment says rank 1.
victim=""
for p in $(pgrep -P "$job") $(for c in $(pgrep -P "$job"); do pgrep -P "$c"; done); do
	if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
		victim=$p
	fi
done
t0=$(date +%s%N)
if [ -z "$victim" ] || [ ! -f "$WORK/kill/checkpoint.safetensors" ]; then
	fail "kill mid-run: no checkpoint or no rank 1 process to kill"
	kill "$job" 2>/dev/null
	wait "$job"
else
	kill -9 "$victim"
	# Wait for the job at most FAIL_LIMIT + 10 s, then end it.
	for _ in $(seq 1 $(((FAIL_LIMIT + 10) * 10))); do
		kill -0 "$job" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$job" 2>/dev/null && kill -9 "$job"
	wait "$job"
	rc=$? ms=$(ms_since "$t0")
	if [ "$rc" -eq 0 ] || [ "$ms" -gt "$((FAIL_LIMIT * 1000))" ]; then
		fail "kill mid-run: exit status $rc after $ms ms"
	else
		echo "test-mpi: rank 1 killed: job ended with exit status $rc after $ms ms"
	fi
	step=$(grep -o '"step":[0-9]*' "$WORK/kill/metrics.jsonl" | tail -1)
	cp -r "$WORK/kill" "$WORK/kill2"
	if timeout 600 "${MPIRUN[@]}" -np 2 "$TRAIN" --resume "$WORK/kill2" >/dev/null 2>"$WORK/kill2-resume.log" &&
		"$WORK/ckptdiff" "$WORK/ref2/final.safetensors" "$WORK/kill2/final.safetensors" 0; then
		echo "test-mpi: the 2-rank checkpoint (last metrics row $step) resumed on 2 ranks bitwise equal to the uninterrupted run"
	else
		fail "the 2-rank checkpoint resumed on 2 ranks is not the uninterrupted run: $(tail -3 "$WORK/kill2-resume.log")"
	fi
	if timeout 600 "$TRAIN" --resume "$WORK/kill" >/dev/null 2>"$WORK/kill-resume.log" &&
		[ -f "$WORK/kill/final.safetensors" ]; then
		echo "test-mpi: the 2-rank checkpoint (last metrics row $step) resumed on 1 rank"
	else
		fail "the 2-rank checkpoint did not resume on 1 rank: $(tail -3 "$WORK/kill-resume.log")"
	fi
fi
rm -rf "$WORK" "$(dirname "$TRAIN")"
exit $status
