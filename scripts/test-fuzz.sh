#!/usr/bin/env bash
# Fuzz leg: build the libFuzzer targets with clang (ASan+UBSan) and run each for
# DFT_FUZZ_SECONDS (default 20) through ctest -L fuzz. Crash inputs land in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh --fuzz
CC=clang DFT_BUILD_DIR=build-fuzz ./scripts/build.sh -DDFT_BUILD_FUZZ=ON -DDFT_BUILD_BENCH=OFF \
  -DDFT_FUZZ_SECONDS="${DFT_FUZZ_SECONDS:-20}"
cd build-fuzz
ctest --output-on-failure -L fuzz
