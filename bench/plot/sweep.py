#!/usr/bin/env python3
"""Turn the raw outputs of bench/sweep.sh into one CSV per plot, sweep.json and the gnuplot data files.

  sweep.py --raw DIR --out DIR --data DIR --command CMD --quick 0|1
      reads   DIR/raw: threads.json, rings.json, keep-<F>.json, batch-<N>.json, e2e-<R>.json,
              e2e-cdf-<R>.csv, notes.txt, params.txt
      writes  OUT/threads.csv, rings.csv, keep_ratio.csv, batch_spans.csv, e2e_cdf.csv, sweep.json
              and DATA/*.dat, *.txt for bench/plot/sweep/*.gp
  sweep.py --summary OUT/sweep.json     (the shape of each sweep as text tables)
A sweep whose raw output is missing is written as an empty CSV (header only) and null in sweep.json.
"""
import argparse
import csv
import datetime
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from assemble import load, machine  # noqa: E402  (same directory, stdlib only)

SCHEMA = 1
HOST_SYSTEMS = ["difftrace", "difftrace_same_core", "host_reporting", "lttng"]
STAGES = ["ingest_validate", "ingest_filter", "batch", "encode", "transport"]
E2E_SYSTEMS = ["off", "difftrace", "host_reporting"]


def num_key(path, prefix, suffix):
    """The number in raw/<prefix><number><suffix>, for sorting the files of one sweep."""
    m = re.match(re.escape(prefix) + r"([0-9.]+)" + re.escape(suffix) + "$", os.path.basename(path))
    return float(m.group(1)) if m else None


def sweep_files(raw, prefix, suffix):
    out = []
    for p in glob.glob(os.path.join(raw, prefix + "*" + suffix)):
        v = num_key(p, prefix, suffix)
        if v is not None:
            out.append((v, p))
    return sorted(out)


def nic_rows(res, extra):
    """One row per (stage, rings) of a dft-bench-nic JSON object, with extra columns in front."""
    rows = []
    for r in (res or {}).get("results", []):
        kept = r.get("batched", 0)
        judged = kept + r.get("filtered", 0)
        row = dict(extra)
        row.update({
            "stage": r["stage"], "rings": r["rings"],
            "spans_per_s_median": r.get("spans_per_s_median"),
            "ns_per_span_median": r.get("ns_per_span_median"),
            "ns_per_span_p99": r.get("ns_per_span_p99"),
            "wall_spans_per_s_median": r.get("wall_spans_per_s_median"),
            "own_spans_per_s_median": r.get("own_spans_per_s_median"),
            # what the NIC really kept of what it judged (validation judges nothing)
            "measured_keep_ratio": kept / judged if judged else None,
            "bytes_per_span": r["bytes"] / kept if kept and r.get("bytes") else None,
        })
        rows.append(row)
    return rows


def collect(raw):
    params = {}
    try:
        with open(os.path.join(raw, "params.txt")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    params[k] = v
    except OSError:
        pass

    host = load(raw, "threads")
    threads = []
    for t in (host or {}).get("per_threads", []):
        for s in HOST_SYSTEMS:
            r = t.get(s)
            if not r:
                continue
            threads.append({"threads": t["threads"], "system": s, "ns_median": r["ns_median"], "ns_p99": r["ns_p99"],
                            "app_cpu_ns_per_span": r["app_cpu_ns_per_span"],
                            "sustained_spans_per_s_per_thread": r["sustained_spans_per_s_per_thread"],
                            "dropped": r["dropped"], "lost_downstream": r["lost_downstream"]})

    rings = nic_rows(load(raw, "rings"), {})

    keep = []
    for f, path in sweep_files(raw, "keep-", ".json"):
        res = load(raw, os.path.basename(path)[:-5])
        keep += nic_rows(res, {"keep_ratio": (res or {}).get("keep_ratio", f)})

    batch = []
    for n, path in sweep_files(raw, "batch-", ".json"):
        res = load(raw, os.path.basename(path)[:-5])
        batch += nic_rows(res, {"batch_spans": (res or {}).get("batch_spans", int(n))})

    e2e, cdf = [], []
    for rate, path in sweep_files(raw, "e2e-", ".json"):
        res = load(raw, os.path.basename(path)[:-5]) or {}
        for s in E2E_SYSTEMS:
            lat = res.get(s)
            if lat:
                e2e.append({"rate": int(rate), "system": s, "p50_us": lat["p50_us"], "p99_us": lat["p99_us"],
                            "max_us": lat["max_us"], "kept_up": lat["kept_up"], "dropped": lat["dropped"],
                            "lost_downstream": lat["lost_downstream"]})
    for rate, path in sweep_files(raw, "e2e-cdf-", ".csv"):
        with open(path) as f:
            for row in csv.DictReader(f):
                try:
                    cdf.append({"rate": int(rate), "system": row["system"],
                                "latency_ns": float(row["latency_ns"]), "fraction": float(row["fraction"])})
                except (KeyError, ValueError):
                    continue
    return params, threads, rings, keep, batch, e2e, cdf


def write_csv(path, cols, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else ("%.6g" % r[c] if isinstance(r[c], float) else r[c])
                        for c in cols])


NIC_COLS = ["stage", "rings", "spans_per_s_median", "ns_per_span_median", "ns_per_span_p99",
            "wall_spans_per_s_median", "own_spans_per_s_median", "measured_keep_ratio", "bytes_per_span"]


def series(rows, key, value):
    out = {}
    for r in rows:
        if r.get(value) is not None:
            out.setdefault(r[key], []).append(r)
    return out


def write_list(data, name, items):
    with open(os.path.join(data, name), "w") as f:
        f.write(" ".join(str(i) for i in items) + "\n")


def write_plot_data(data, threads, rings, keep, batch, cdf):
    """Per-series .dat files, and the series' names in *.txt, for gnuplot's `for [s in list]`."""
    os.makedirs(data, exist_ok=True)
    for old in glob.glob(os.path.join(data, "*.dat")) + glob.glob(os.path.join(data, "*.txt")):
        os.remove(old)

    by = series(threads, "system", "ns_median")
    write_list(data, "threads_systems.txt", [s for s in HOST_SYSTEMS if s in by])
    for s, rs in by.items():
        with open(os.path.join(data, "threads_%s.dat" % s), "w") as f:
            f.write("# threads ns_median ns_p99 app_cpu_ns_per_span\n")
            for r in sorted(rs, key=lambda r: r["threads"]):
                f.write("%d %.6g %.6g %.6g\n" % (r["threads"], r["ns_median"], r["ns_p99"], r["app_cpu_ns_per_span"]))

    by = series(rings, "stage", "spans_per_s_median")
    write_list(data, "rings_stages.txt", [s for s in STAGES if s in by])
    for s, rs in by.items():
        with open(os.path.join(data, "rings_%s.dat" % s), "w") as f:
            f.write("# rings Mspans_per_s ns_per_span_median\n")
            for r in sorted(rs, key=lambda r: r["rings"]):
                f.write("%d %.6g %.6g\n" % (r["rings"], r["spans_per_s_median"] / 1e6, r["ns_per_span_median"]))

    # keep ratio 0 has no place on a log axis: the points sit at evenly spaced positions instead
    ratios = sorted({r["keep_ratio"] for r in keep})
    by = series(keep, "stage", "spans_per_s_median")
    write_list(data, "keep_stages.txt", [s for s in STAGES if s in by])
    for s, rs in by.items():
        with open(os.path.join(data, "keep_%s.dat" % s), "w") as f:
            f.write("# position keep_pct Mspans_per_s measured_keep_pct\n")
            for r in sorted(rs, key=lambda r: r["keep_ratio"]):
                m = r["measured_keep_ratio"]
                f.write("%d \"%g%%\" %.6g %s\n" % (ratios.index(r["keep_ratio"]), r["keep_ratio"] * 100,
                                                  r["spans_per_s_median"] / 1e6, "?" if m is None else "%.4g" % (m * 100)))

    by = series(batch, "stage", "spans_per_s_median")
    write_list(data, "batch_stages.txt", [s for s in STAGES if s in by])
    for s, rs in by.items():
        with open(os.path.join(data, "batch_%s.dat" % s), "w") as f:
            f.write("# batch_spans Mspans_per_s own_Mspans_per_s\n")
            for r in sorted(rs, key=lambda r: r["batch_spans"]):
                own = r["own_spans_per_s_median"]
                f.write("%d %.6g %s\n" % (r["batch_spans"], r["spans_per_s_median"] / 1e6,
                                          "?" if own is None else "%.6g" % (own / 1e6)))

    rates = sorted({r["rate"] for r in cdf})
    write_list(data, "cdf_rates.txt", rates)
    systems = [s for s in E2E_SYSTEMS if any(r["system"] == s for r in cdf)]
    write_list(data, "cdf_systems.txt", systems)
    for rate in rates:
        for s in systems:
            pts = sorted((r["latency_ns"], r["fraction"]) for r in cdf if r["rate"] == rate and r["system"] == s)
            with open(os.path.join(data, "cdf_%d_%s.dat" % (rate, s)), "w") as f:
                f.write("# latency_us fraction\n")
                for lat, frac in pts:
                    f.write("%.3f %.6f\n" % (lat / 1e3, frac))


def assemble(args):
    raw = args.raw
    params, threads, rings, keep, batch, e2e, cdf = collect(raw)
    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "threads.csv"),
              ["threads", "system", "ns_median", "ns_p99", "app_cpu_ns_per_span", "sustained_spans_per_s_per_thread",
               "dropped", "lost_downstream"], threads)
    write_csv(os.path.join(args.out, "rings.csv"), NIC_COLS, rings)
    write_csv(os.path.join(args.out, "keep_ratio.csv"), ["keep_ratio"] + NIC_COLS, keep)
    write_csv(os.path.join(args.out, "batch_spans.csv"), ["batch_spans"] + NIC_COLS, batch)
    write_csv(os.path.join(args.out, "e2e_cdf.csv"), ["rate", "system", "latency_ns", "fraction"], cdf)
    notes = []
    try:
        with open(os.path.join(raw, "notes.txt")) as f:
            notes = [line.strip() for line in f if line.strip()]
    except OSError:
        pass
    res = {
        "schema": SCHEMA,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": args.command,
        "quick": args.quick == "1",
        "machine": machine(),
        "params": params,
        # the CSVs' rows; the CDF points stay in e2e_cdf.csv, their percentiles are in e2e
        "threads": threads or None,
        "rings": rings or None,
        "keep_ratio": keep or None,
        "batch_spans": batch or None,
        "e2e": e2e or None,
        "notes": notes,
    }
    tmp = os.path.join(args.out, "sweep.json.tmp")
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "sweep.json"))
    write_plot_data(args.data, threads, rings, keep, batch, cdf)


def fmt(v, scale=1.0):
    return "-" if v is None else "%.3g" % (v / scale)


def table(title, rows, row_key, col_key, value, scale=1.0):
    if not rows:
        print("%s: no data\n" % title)
        return
    cols = sorted({r[col_key] for r in rows})
    keys = []
    for r in rows:
        if r[row_key] not in keys:
            keys.append(r[row_key])
    print(title)
    print("%-22s" % row_key + "".join("%10s" % c for c in cols))
    for k in keys:
        cells = []
        for c in cols:
            x = [r for r in rows if r[row_key] == k and r[col_key] == c]
            cells.append(fmt(x[0][value], scale) if x else "-")
        print("%-22s" % k + "".join("%10s" % c for c in cells))
    print()


def summary(path):
    with open(path) as f:
        res = json.load(f)
    print("%s (%s)%s" % (res["command"], res["generated_utc"], ", quick" if res["quick"] else ""))
    print()
    table("per-span cost: median ns on the app thread, by producer threads", res["threads"] or [], "system",
          "threads", "ns_median")
    table("per-span cost: app CPU ns per span, by producer threads", res["threads"] or [], "system", "threads",
          "app_cpu_ns_per_span")
    table("NIC stage throughput, M spans/s per core, by rings", res["rings"] or [], "stage", "rings",
          "spans_per_s_median", 1e6)
    table("NIC stage throughput, M spans/s per core, by keep ratio", res["keep_ratio"] or [], "stage", "keep_ratio",
          "spans_per_s_median", 1e6)
    table("measured keep ratio (batched / judged)", res["keep_ratio"] or [], "stage", "keep_ratio",
          "measured_keep_ratio")
    table("NIC stage throughput, M spans/s per core, by batch spans", res["batch_spans"] or [], "stage",
          "batch_spans", "spans_per_s_median", 1e6)
    table("e2e p50 us, by offered rate (req/s)", res["e2e"] or [], "system", "rate", "p50_us")
    table("e2e p99 us, by offered rate (req/s)", res["e2e"] or [], "system", "rate", "p99_us")
    table("e2e spans dropped at the host ring, by offered rate", res["e2e"] or [], "system", "rate", "dropped")
    for n in res.get("notes", []):
        print("note: " + n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--out")
    ap.add_argument("--data")
    ap.add_argument("--command", default="bench/sweep.sh")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--summary")
    args = ap.parse_args()
    if args.summary:
        summary(args.summary)
        return 0
    if not (args.raw and args.out and args.data):
        ap.error("--raw, --out and --data are required")
    assemble(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
