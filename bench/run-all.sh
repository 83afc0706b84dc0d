#!/usr/bin/env bash
# Build the benchmarks (Release), run every one, write bench-out/results.json and render the PNG
# plots with gnuplot. Keys of results.json: docs/benchmarks.md.
#   bench/run-all.sh [--quick] [--build-dir DIR] [--out DIR] [--no-deps] [--no-build] [--sweep]
#   --quick      ~1-2 minutes: fewer repetitions and spans per run (numbers are noisier)
#   --build-dir  where to build (default build-bench)
#   --out        output directory (default bench-out)
#   --no-deps    do not run scripts/setup-deps.sh --bench
#   --no-build   use the binaries already in the build directory
#   --sweep      also run bench/sweep.sh (how cost grows) into OUT/sweep (+1-3 min quick, ~4-5 full)
# A benchmark whose binary is missing or that fails is recorded as null with a note; the others
# still run. Exit status: 0 when results.json was written.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0 BUILD=build-bench OUT=bench-out DEPS=1 DOBUILD=1 SWEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build-dir) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-deps) DEPS=0 ;;
    --no-build) DOBUILD=0 ;;
    --sweep) SWEEP=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run-all.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT/raw" "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
NOTES="$OUT/raw/notes.txt"
: > "$NOTES"
note() { echo "$*" >> "$NOTES"; echo "run-all.sh: $*" >&2; }

if [ $DEPS = 1 ]; then
  ./scripts/setup-deps.sh --bench || note "setup-deps.sh --bench failed: plots or the LTTng column may be missing"
fi
if [ $DOBUILD = 1 ]; then
  echo "run-all.sh: building into $BUILD (Release)" >&2
  if ! DFT_BUILD_DIR=$BUILD ./scripts/build.sh -DCMAKE_BUILD_TYPE=Release -DDFT_BUILD_BENCH=ON -DDFT_BUILD_TESTS=OFF \
      > "$OUT/logs/build.log" 2>&1; then
    note "build failed (see logs/build.log): benchmarks that did build still run"
  fi
fi
BIN=$ROOT/$BUILD/bin
Q=(); [ $QUICK = 1 ] && Q=(--quick)

# run NAME TIMEOUT_S BINARY ARGS...: stdout (one JSON object) to raw/NAME.json, stderr to logs/
run() {
  local name=$1 limit=$2 bin=$3; shift 3
  rm -f "$OUT/raw/$name.json"
  if [ ! -x "$BIN/$bin" ]; then
    note "$name: $bin not built: recorded as null"
    return
  fi
  echo "run-all.sh: $name: $bin $*" >&2
  if ! timeout "$limit" "$BIN/$bin" "$@" > "$OUT/raw/$name.json.tmp" 2> "$OUT/logs/$name.log"; then
    note "$name: $bin failed or timed out after ${limit}s (see logs/$name.log): recorded as null"
    rm -f "$OUT/raw/$name.json.tmp"
    return
  fi
  mv "$OUT/raw/$name.json.tmp" "$OUT/raw/$name.json"
}

T=900; [ $QUICK = 1 ] && T=240
run host "$T" dft-bench-host --json "${Q[@]}"
# the e2e latency CDF: one CSV (system,latency_ns,fraction) when the binary supports --cdf-csv
E2E_ARGS=(--json)
rm -f "$OUT/raw/e2e-cdf.csv"
E2E_HELP=$([ -x "$BIN/dft-bench-e2e" ] && "$BIN/dft-bench-e2e" --help 2>&1)
if [ $QUICK = 1 ]; then
  if grep -q -- --quick <<< "$E2E_HELP"; then E2E_ARGS+=(--quick)
  elif grep -q -- --sweep-duration <<< "$E2E_HELP"; then E2E_ARGS+=(--duration 1 --sweep-duration 0.25)
  fi
fi
grep -q -- --cdf-csv <<< "$E2E_HELP" && E2E_ARGS+=(--cdf-csv "$OUT/raw/e2e-cdf.csv")
run e2e "$T" dft-bench-e2e "${E2E_ARGS[@]}"
run nic_mmap "$T" dft-bench-nic --ingest mmap --json "${Q[@]}"
# dma_skeleton is a software engine whose copy thread shares the cores: fewer spans keep the run short
DMA_ARGS=(--spans 65536 --reps 10); [ $QUICK = 1 ] && DMA_ARGS=("${Q[@]}")
run nic_dmadev "$T" dft-bench-nic --ingest dmadev --json "${DMA_ARGS[@]}"
run collector "$T" dft-bench-collector --json "${Q[@]}" --collector "$BIN/difftrace-collector"
# instructions per span of the host hot path (callgrind: the same count on a loaded machine)
if command -v valgrind >/dev/null; then
  bench/host/instr.sh --bindir "$BIN" --json > "$OUT/raw/instr.json" 2> "$OUT/logs/instr.log" ||
    { note "instr: bench/host/instr.sh failed (see logs/instr.log): recorded as null"; rm -f "$OUT/raw/instr.json"; }
else
  note "instr: valgrind not installed: recorded as null"
fi

CMD="bench/run-all.sh"; [ $QUICK = 1 ] && CMD="$CMD --quick"
python3 bench/plot/assemble.py --raw "$OUT/raw" --out "$OUT/results.json" --data "$OUT/plotdata" \
  --command "$CMD" --quick "$QUICK" || { echo "run-all.sh: assembling results.json failed" >&2; exit 1; }

if command -v gnuplot >/dev/null; then
  for gp in bench/plot/*.gp; do
    gnuplot -e "data='$OUT/plotdata'; out='$OUT'" "$gp" > "$OUT/logs/$(basename "$gp" .gp).log" 2>&1 ||
      echo "run-all.sh: $(basename "$gp"): no plot (see logs/$(basename "$gp" .gp).log)" >&2
  done
else
  echo "run-all.sh: gnuplot not installed (scripts/setup-deps.sh --bench): no plots" >&2
fi
echo "run-all.sh: wrote $OUT/results.json" >&2
python3 bench/plot/assemble.py --summary "$OUT/results.json"
# after the summary, so a failed sweep leaves results.json and its plots as they are
if [ $SWEEP = 1 ]; then
  bench/sweep.sh --no-build --build-dir "$BUILD" --out "$OUT/sweep" "${Q[@]}" ||
    echo "run-all.sh: bench/sweep.sh failed (see $OUT/sweep/logs)" >&2
fi
