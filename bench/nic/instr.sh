#!/usr/bin/env bash
# Instructions per span of the NIC worker (dft_worker_step and everything it calls), counted by
# callgrind: repeatable on a loaded machine, unlike the timings of dft-bench-nic. Runs
# dft-bench-nic for one stage (default ingest_filter, the goal's stage) with only the worker step
# counted (--toggle-collect), prints instructions per span and each function's own share. With a
# binary built with -g (e.g. -DCMAKE_C_FLAGS=-g) the shares are also summed per source file, which
# is where inlined code (LTO) is charged.
#   bench/nic/instr.sh [--bindir DIR] [--stage S] [--ingest mmap|dmadev] [--spans N] [--reps N] [--json]
# Needs valgrind (Debian package valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."
BINDIR=build-bench/bin STAGE=ingest_filter INGEST=mmap N=65536 REPS=3 JSON=0
while [ $# -gt 0 ]; do
  case $1 in
    --bindir) BINDIR=$2; shift ;;
    --stage) STAGE=$2; shift ;;
    --ingest) INGEST=$2; shift ;;
    --spans) N=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --json) JSON=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "instr.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "instr.sh: valgrind not installed" >&2; exit 77; }
BIN=$BINDIR/dft-bench-nic
[ -x "$BIN" ] || { echo "instr.sh: $BIN not built" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# one round: a warm-up fill and REPS counted fills, every one of N spans, all of them through the
# worker step (LTO renames it dft_worker_step.constprop...: the pattern takes both)
valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" --toggle-collect='dft_worker_step*' \
  "$BIN" --ingest "$INGEST" --stages "$STAGE" --rings 1 --reps "$REPS" --rounds 1 --spans "$N" \
  > "$TMP/run.log" 2>&1 || { cat "$TMP/run.log" >&2; exit 1; }
callgrind_annotate --inclusive=no --threshold=100 "$TMP/cg.out" > "$TMP/cg.txt" 2>/dev/null
python3 - "$TMP/cg.txt" "$(( N * (REPS + 1) ))" "$JSON" "$STAGE" "$INGEST" <<'PY'
import json, re, sys
path, spans, as_json, stage, ingest = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
total, funcs, files, seen = None, {}, {}, False
for line in open(path):
    m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", line)
    if m:
        total = int(m.group(1).replace(",", ""))
        continue
    m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+):(\S+)", line)
    if m and total is not None:
        seen = True
        cost = int(m.group(1).replace(",", "")) / spans
        f = re.sub(r"\.(lto_priv|constprop|isra|part)\..*$|\.(lto_priv|constprop|isra|part)$", "", m.group(3).split("'")[0])
        funcs[f] = funcs.get(f, 0) + cost
        if m.group(2) != "???":
            files[m.group(2)] = files.get(m.group(2), 0) + cost
    elif seen and not line.strip():
        break
out = {"bench": "nic-instr", "stage": stage, "ingest": ingest, "spans": spans,
       "instructions_per_span": (total or 0) / spans,
       "self_per_span": {f: round(c, 1) for f, c in sorted(funcs.items(), key=lambda x: -x[1]) if c >= 1},
       "per_file": {f: round(c, 1) for f, c in sorted(files.items(), key=lambda x: -x[1]) if c >= 1}}
if as_json:
    print(json.dumps(out))
else:
    print("%s (%s): %.1f instructions per span of the worker step" % (stage, ingest, out["instructions_per_span"]))
    for f, c in out["self_per_span"].items():
        print("  %7.1f  %s" % (c, f))
    if out["per_file"]:
        print("per source file (inlined code charged where it was written):")
        for f, c in out["per_file"].items():
            print("  %7.1f  %s" % (c, f))
PY
