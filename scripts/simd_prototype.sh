#!/usr/bin/env bash
# Builds and runs scripts/simd_prototype.cc (issue 3's SIMD feasibility prototype) with the machine's g++:
# 4 lanes (AVX2), 8 lanes (AVX-512 where the CPU has it), and 8 lanes computing only. Prints ns per row.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-O3 -march=native -ffp-contract=off -fno-math-errno)
g++ "${flags[@]}" -DL=4 "$here/simd_prototype.cc" -o "$out/l4"
g++ "${flags[@]}" -mprefer-vector-width=512 -DL=8 "$here/simd_prototype.cc" -o "$out/l8"
g++ "${flags[@]}" -mprefer-vector-width=512 -DL=8 -DLANEOUT "$here/simd_prototype.cc" -o "$out/l8c"
echo "outputs written as the fold writes them (symbol-major float32 columns):"
"$out/l4"; "$out/l8"
echo "compute only (outputs left lane-major, so 'identical' does not apply):"
"$out/l8c"
