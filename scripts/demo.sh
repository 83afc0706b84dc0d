#!/usr/bin/env bash
# One command from a fresh checkout to measured figures: install the Debian dependencies, build,
# start difftrace-collector and the emulated difftrace-nic on loopback, run difftrace-gen
# (DFT_DEMO_SECONDS, default 15, of serverless workload at the generator's default anomaly rates from
# the first request, no warm-up, with a ground truth), let the pipeline drain, run `difftrace eval` and print a summary
# (also demo-out/summary.json; the SQLite store and the OTLP JSON file stay in demo-out/).
#   DFT_DEMO_SECONDS=30 ./scripts/demo.sh      a longer run
#   DFT_BUILD_DIR=build-x ./scripts/demo.sh    build into (and run from) another directory
#   DFT_DEMO_LCORES=2 ./scripts/demo.sh        the NIC's DPDK cores (default: the last CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
log=$(mktemp)
if ! ./scripts/build.sh >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "demo.sh: the build failed (whole log: $log)" >&2
  exit 1
fi
rm -f "$log"
exec python3 scripts/demo.py --bindir "${DFT_BUILD_DIR:-build}/bin" --out demo-out "$@"
