#!/usr/bin/env bash
# Configure and build difftrace into $DFT_BUILD_DIR (default ./build). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${DFT_BUILD_DIR:-build}
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" "${GEN[@]}" "$@" >/dev/null
else
  cmake -S . -B "$BUILD" "$@" >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)"
