#!/usr/bin/env bash
# Installs, from Debian's packages, whatever mixprec's build, tests, benchmarks
# and demo need and this machine lacks. Idempotent: installs nothing (and asks
# apt nothing) when everything is present. The CUDA toolkit is optional and is
# not installed here: with /usr/local/cuda present the CUDA tests build too.
set -euo pipefail

packages=(cmake make ninja-build g++ clang catch2 libbenchmark-dev zlib1g-dev gnuplot-nox doxygen dataset-fashion-mnist)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "mixprec: installing missing packages: ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "mixprec: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
