#!/usr/bin/env bash
# Install dependencies, build with -Werror and run every test that can run on this machine:
# ctest labels unit, integration, fault, security, fuzz (driver mode), rxe (Soft-RoCE VM; skipped where
# no VM can run), view (pages in headless Chromium; skipped where chromium cannot be installed) and
# clickhouse (two private clickhouse-server shards; skipped where the package cannot be installed).
# Env: DFT_BUILD_DIR (default build), DFT_CTEST_ARGS (extra ctest arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh --rxe --view --otlp --clickhouse
./scripts/build.sh -DDFT_WERROR=ON -DDFT_BUILD_TESTS=ON
cd "${DFT_BUILD_DIR:-build}"
# shellcheck disable=SC2086
ctest --output-on-failure ${DFT_CTEST_ARGS:-}
