#!/usr/bin/env bash
# Instructions per span of libdifftrace's hot path, counted by callgrind (repeatable on a loaded
# machine, unlike a timing). Runs dft-bench-span-instr under valgrind --tool=callgrind with only the
# variant's loop counted (--toggle-collect), prints instructions per span and each function's own
# share (self cost / spans).
#   bench/host/instr.sh [--bindir DIR] [--spans N] [--json] [VARIANT...]   (default: child root at chain)
# VARIANT: see bench/host/span_instr.c. Needs valgrind (Debian package valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."
BINDIR=build/bin N=100000 JSON=0 VARIANTS=()
while [ $# -gt 0 ]; do
  case $1 in
    --bindir) BINDIR=$2; shift ;;
    --spans) N=$2; shift ;;
    --json) JSON=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) echo "instr.sh: unknown option '$1'" >&2; exit 2 ;;
    *) VARIANTS+=("$1") ;;
  esac
  shift
done
[ ${#VARIANTS[@]} -eq 0 ] && VARIANTS=(child root at chain)
command -v valgrind >/dev/null || { echo "instr.sh: valgrind not installed" >&2; exit 77; }
BIN=$BINDIR/dft-bench-span-instr
[ -x "$BIN" ] || { echo "instr.sh: $BIN not built" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for v in "${VARIANTS[@]}"; do
  valgrind --tool=callgrind --callgrind-out-file="$TMP/$v.out" --toggle-collect="dft_instr_$v" \
    "$BIN" "$v" "$N" > "$TMP/$v.log" 2>&1 || { cat "$TMP/$v.log" >&2; exit 1; }
  callgrind_annotate --inclusive=no --threshold=100 "$TMP/$v.out" > "$TMP/$v.txt" 2>/dev/null
done
python3 - "$TMP" "$N" "$JSON" "${VARIANTS[@]}" <<'PY'
import json, re, sys
tmp, n, as_json, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
out = {"bench": "span-instr", "spans": n, "variants": {}}
for v in variants:
    total, funcs, seen = None, {}, False
    for line in open("%s/%s.txt" % (tmp, v)):
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        # function lines (file:function, one per file an inlined part came from) up to the next blank
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+):(\S+)", line)
        if m and total is not None:
            seen = True
            f = m.group(3).split("'")[0]
            funcs[f] = funcs.get(f, 0) + int(m.group(1).replace(",", "")) / n
        elif seen and not line.strip():
            break
    out["variants"][v] = {"instructions_per_span": total / n,
                          "self_per_span": {f: c for f, c in sorted(funcs.items(), key=lambda x: -x[1]) if c >= 0.5}}
if as_json:
    print(json.dumps(out))
else:
    for v, r in out["variants"].items():
        print("%-6s %7.1f instructions per span" % (v, r["instructions_per_span"]))
        for f, c in r["self_per_span"].items():
            print("         %7.1f  %s" % (c, f))
PY
