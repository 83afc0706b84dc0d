#!/usr/bin/env bash
# Soak (not in CI): mixed tenants for MINUTES (default 10) with faults on a schedule, then the
# accounts per tenant and per NIC epoch and the daemons' peak memory (docs/reliability.md).
#   bench/soak.sh [MINUTES] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-10}
BUILD=${2:-${DFT_BUILD_DIR:-build}}
exec python3 bench/soak/soak.py --bindir "$BUILD/bin" --minutes "$MIN"
