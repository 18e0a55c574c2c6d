#!/usr/bin/env bash
# build-gpu.sh builds, here (no GPU needed; CUDA 11.8 headers from
# scripts/setup-cuda.sh), the binaries that scripts/gpu-report.sh runs on the
# GPU machine: bin/train (the command, cuda engine included) and
# bin/gpu.test (the CUDA engine's op table, extra checks and benchmarks).
# The main package may not build yet while it is being written: the test
# binary is built regardless.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
status=0
if go build -tags cuda -trimpath -o bin/train . ; then
	echo "build-gpu: bin/train"
else
	echo "build-gpu: bin/train NOT built (main package does not build yet); continuing" >&2
	status=1
fi
if go test -tags cuda -trimpath -c -o bin/gpu.test ./gpu/ ; then
	echo "build-gpu: bin/gpu.test"
else
	echo "build-gpu: bin/gpu.test FAILED" >&2
	exit 2
fi
go test -run NVRTC ./kernels/ || exit 2
exit $status
