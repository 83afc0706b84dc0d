#!/usr/bin/env bash
# How cost grows: sweep the benchmarks over one parameter at a time, write one CSV per plot, sweep.json
# and the PNGs (bench/plot/sweep/*.gp). docs/benchmarks.md "How cost grows (bench/sweep.sh)".
#   bench/sweep.sh [--quick] [--build-dir DIR] [--out DIR] [--no-build]
#   --quick      ~1-3 minutes: fewer repetitions, shorter e2e runs, fewer rates (noisier); the full sweep ~4 minutes
#   --build-dir  where to build (default build-bench)
#   --out        output directory (default bench-out/sweep)
#   --no-build   use the binaries already in the build directory
# Sweeps: producer threads (dft-bench-host), rings, keep ratio and batch spans (dft-bench-nic), offered
# request rate (dft-bench-e2e, the latency CDF with and without difftrace). A run that fails is noted
# (raw/notes.txt, sweep.json "notes") and left out; the others still run. Exit status 0 when
# sweep.json was written.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0 BUILD=build-bench OUT=bench-out/sweep DOBUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build-dir) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) DOBUILD=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "sweep.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT/raw" "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
# a rerun into the same directory must not plot the last run's points next to this one's
rm -f "$OUT"/raw/* "$OUT"/*.png
NOTES="$OUT/raw/notes.txt"
: > "$NOTES"
note() { echo "$*" >> "$NOTES"; echo "sweep.sh: $*" >&2; }

if [ $DOBUILD = 1 ]; then
  echo "sweep.sh: building into $BUILD (Release)" >&2
  if ! DFT_BUILD_DIR=$BUILD ./scripts/build.sh -DCMAKE_BUILD_TYPE=Release -DDFT_BUILD_BENCH=ON -DDFT_BUILD_TESTS=OFF \
      > "$OUT/logs/build.log" 2>&1; then
    note "build failed (see logs/build.log): sweeps whose binary did build still run"
  fi
fi
BIN=$ROOT/$BUILD/bin

# The sweep points. Every NIC run of one sweep has the same spans, repetitions and rounds, so the
# points differ in the swept parameter alone; the keep-ratio and batch sweeps run at 4 rings.
THREADS=1,2,4,8
RINGS=1,2,4,8,16,32,64
KEEP=(0 0.01 0.05 0.25 1)
BATCH=(16 64 256 1024 4096 16384)
if [ $QUICK = 1 ]; then
  HOST_Q=(--quick)
  NIC_Q=(--reps 9 --rounds 3 --spans 65536)
  RATES=(10000 30000 100000)
  E2E_DUR=1
  T=180
else
  HOST_Q=()
  NIC_Q=()
  RATES=(5000 10000 20000 50000 100000)
  E2E_DUR=2
  T=900
fi
{
  echo "threads=$THREADS"; echo "rings=$RINGS"; echo "keep_ratios=${KEEP[*]}"; echo "batch_spans=${BATCH[*]}"
  echo "e2e_rates=${RATES[*]}"; echo "e2e_duration_s=$E2E_DUR"; echo "nic_args=${NIC_Q[*]}"; echo "host_args=${HOST_Q[*]}"
  echo "keep_batch_rings=4"
} > "$OUT/raw/params.txt"

# run NAME TIMEOUT_S BINARY ARGS...: stdout (one JSON object) to raw/NAME.json, stderr to logs/
run() {
  local name=$1 limit=$2 bin=$3; shift 3
  if [ ! -x "$BIN/$bin" ]; then
    note "$name: $bin not built: left out"
    return 0
  fi
  echo "sweep.sh: $name: $bin $*" >&2
  if ! timeout "$limit" "$BIN/$bin" "$@" > "$OUT/raw/$name.json.tmp" 2> "$OUT/logs/$name.log"; then
    note "$name: $bin failed or timed out after ${limit}s (see logs/$name.log): left out"
    rm -f "$OUT/raw/$name.json.tmp"
    return 0
  fi
  mv "$OUT/raw/$name.json.tmp" "$OUT/raw/$name.json"
}

# per-span cost against producer threads (all on the app's CPU, as in run-all). The ring is larger
# than run-all's 4096 slots because a round of --batch 1000 spans per thread must fit in half of it
# at 8 threads; the OpenTelemetry Go SDK is left out (1 producer only).
run threads "$T" dft-bench-host --json --no-otel --threads "$THREADS" --ring-slots 16384 "${HOST_Q[@]}"
# stage throughput against rings: every stage, each stream as in run-all
run rings "$T" dft-bench-nic --json --rings "$RINGS" "${NIC_Q[@]}"
# against the share of spans the NIC keeps: validation judges nothing, and under --keep-ratio
# ingest_filter runs what batch runs, so batch (judge + batch the kept share) stands for both
for k in "${KEEP[@]}"; do
  run "keep-$k" "$T" dft-bench-nic --json --rings 4 --stages batch,encode,transport --keep-ratio "$k" "${NIC_Q[@]}"
done
# against [batch] spans, every span kept (the batch stage's own stream)
for b in "${BATCH[@]}"; do
  run "batch-$b" "$T" dft-bench-nic --json --rings 4 --stages batch,encode,transport --batch-spans "$b" "${NIC_Q[@]}"
done
# the e2e latency CDF at each offered rate: off (no tracing), difftrace, host_reporting in each run
for r in "${RATES[@]}"; do
  run "e2e-$r" "$T" dft-bench-e2e --json --no-sweep --rate "$r" --duration "$E2E_DUR" \
    --cdf-csv "$OUT/raw/e2e-cdf-$r.csv"
  [ -f "$OUT/raw/e2e-$r.json" ] || rm -f "$OUT/raw/e2e-cdf-$r.csv"
done

CMD="bench/sweep.sh"; [ $QUICK = 1 ] && CMD="$CMD --quick"
python3 bench/plot/sweep.py --raw "$OUT/raw" --out "$OUT" --data "$OUT/plotdata" --command "$CMD" --quick "$QUICK" ||
  { echo "sweep.sh: writing the CSVs and sweep.json failed" >&2; exit 1; }

if command -v gnuplot >/dev/null; then
  for gp in bench/plot/sweep/*.gp; do
    gnuplot -e "data='$OUT/plotdata'; out='$OUT'" "$gp" > "$OUT/logs/$(basename "$gp" .gp).log" 2>&1 ||
      echo "sweep.sh: $(basename "$gp"): no plot (see logs/$(basename "$gp" .gp).log)" >&2
  done
else
  echo "sweep.sh: gnuplot not installed (scripts/setup-deps.sh --bench): no plots" >&2
fi
echo "sweep.sh: wrote $OUT/sweep.json" >&2
python3 bench/plot/sweep.py --summary "$OUT/sweep.json"
