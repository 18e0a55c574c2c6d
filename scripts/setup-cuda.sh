#!/usr/bin/env bash
# setup-cuda.sh installs the CUDA 11.8 headers, libcuda.so (to link against)
# and NVRTC 11.8 from Debian 12 non-free, so that the `cuda`-tagged build
# compiles and `go test -run NVRTC ./kernels/...` can compile every kernel.
# No GPU is needed. Idempotent; runs as root (CI) or through sudo.
# See GPU.md: ~90 s, 1.5 GB download, 5 GB disk.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

if [ -f /usr/include/cuda.h ] && [ -f /usr/include/cuda_bf16.h ] &&
	ldconfig -p | grep -q 'libnvrtc\.so\.11'; then
	echo "setup-cuda: CUDA headers and NVRTC already installed"
	exit 0
fi

SRC=/etc/apt/sources.list.d/nonfree.sources
if [ ! -f "$SRC" ]; then
	printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
		$SUDO tee "$SRC" >/dev/null
fi

$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nvidia-cuda-dev
echo "setup-cuda: installed $(ls /usr/include/cuda.h /usr/include/cuda_bf16.h | tr '\n' ' ')"
