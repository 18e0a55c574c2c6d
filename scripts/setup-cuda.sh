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

# The contrib and non-free components come from the machine's own Debian
# source (its URIs, so a mirror or snapshot keeps working): the deb822
# stanza, or the sources.list line, that serves the release's main suite.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
uris=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	uris=$(awk -v suite="$codename" '
		/^[[:space:]]*$/ { if (u != "" && s) print u; u = ""; s = 0; next }
		/^URIs:/ { u = substr($0, index($0, ":") + 2) }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
		END { if (u != "" && s) print u }' /etc/apt/sources.list.d/debian.sources | head -n 1)
fi
if [ -z "$uris" ] && [ -f /etc/apt/sources.list ]; then
	uris=$(awk -v suite="$codename" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list)
fi
if [ -z "$uris" ]; then
	echo "setup-cuda: no Debian source for $codename in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
	exit 1
fi

SRC=/etc/apt/sources.list.d/nonfree.sources
if [ ! -f "$SRC" ]; then
	printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uris" "$codename" "$codename" |
		$SUDO tee "$SRC" >/dev/null
fi

$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nvidia-cuda-dev
echo "setup-cuda: installed $(ls /usr/include/cuda.h /usr/include/cuda_bf16.h | tr '\n' ' ')"
