#!/usr/bin/env bash
# Install dependencies, build, run the whole pipeline on loopback with embedded defaults and
# print a summary (also written to demo-out/summary.json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
./scripts/build.sh -DDFT_BUILD_TESTS=ON >/dev/null
exec python3 scripts/demo.py --bindir "${DFT_BUILD_DIR:-build}/bin" --out demo-out
