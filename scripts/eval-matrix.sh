#!/usr/bin/env bash
# The evaluation matrix (docs/evaluation.md): synthesizes Knative-shaped recordings with
# tests/accuracy/workload.py, replays each through real difftrace-nic and difftrace-collector on
# loopback at the recorded pace and as fast as possible, and scores the store against the truth.
# Writes eval-out/matrix.json and eval-out/matrix.md, and the table into docs/evaluation.md.
# Extra arguments go to tests/accuracy/matrix.py (--cells full|default|quick, --seconds, --seed,
# --only CELL,..., --assert-goals; --help). Env: DFT_BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${DFT_BUILD_DIR:-build}
if [ ! -x "$BUILD/bin/difftrace-replay" ]; then
  ./scripts/build.sh
fi
mkdir -p eval-out
exec python3 tests/accuracy/matrix.py --bindir "$BUILD/bin" --out eval-out --json eval-out/matrix.json \
  --markdown eval-out/matrix.md --update-doc docs/evaluation.md "$@"
