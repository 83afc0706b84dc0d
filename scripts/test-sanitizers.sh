#!/usr/bin/env bash
# Sanitizer leg: ASan+UBSan build running unit, integration, security and Soft-RoCE tests; TSan build running the
# ring and host-library unit tests (the cross-thread code). Separate build dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
DFT_BUILD_DIR=build-asan ./scripts/build.sh -DDFT_WERROR=ON -DDFT_SANITIZE=address -DDFT_BUILD_BENCH=OFF
(cd build-asan && ctest --output-on-failure -L 'unit|integration|security|rxe')
DFT_BUILD_DIR=build-tsan ./scripts/build.sh -DDFT_WERROR=ON -DDFT_SANITIZE=thread -DDFT_BUILD_BENCH=OFF
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R '^test_(ring|host_.*)$')
