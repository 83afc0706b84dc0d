#!/usr/bin/env python3
"""Merge the raw outputs of the benchmarks into results.json and write the gnuplot data files.

bench/run-all.sh calls it; every key of results.json is documented in docs/benchmarks.md.
  assemble.py --raw DIR --out results.json --data DIR --command CMD --quick 0|1
  assemble.py --summary results.json      (prints the summary and the goals as a table)
  assemble.py --markdown results.json     (the latest-run tables for docs/benchmarks.md)
"""
import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys

SCHEMA = 1
STAGES = ["ingest_validate", "ingest_filter", "batch", "encode", "transport"]
RINGS = [1, 4, 16]


def load(raw, name):
    path = os.path.join(raw, name + ".json")
    try:
        with open(path) as f:
            text = f.read().strip()
        # one object; a benchmark that printed a text line first still counts if its last line is JSON
        return json.loads(text.splitlines()[-1]) if text else None
    except (OSError, ValueError, IndexError):
        return None


def machine():
    model = family = number = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("CPU family:"):
                family = line.split(":", 1)[1].strip()
            elif line.startswith("Model:"):
                number = line.split(":", 1)[1].strip()
    except OSError:
        pass
    osname = None
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"cpu_model": model, "cpu_family": family, "cpu_model_number": number, "cpus": os.cpu_count(),
            "os": osname, "kernel": platform.release()}


def nic_rate(nic, stage, rings):
    if not nic:
        return None
    for r in nic.get("results", []):
        if r.get("stage") == stage and r.get("rings") == rings:
            return r.get("spans_per_s_median")
    return None


def collector_rate(col, config):
    if not col:
        return None
    for r in col.get("results", []):
        if r.get("config") == config:
            return r.get("spans_per_s_median")
    return None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def goal(value, target, better):
    met = None
    if value is not None:
        met = value <= target if better == "le" else value >= target
    return {"value": value, "target": target, "compare": better, "met": met}


def read_cdf(raw, e2e):
    """({system: [(latency_ns, fraction), ...]}, source) from raw/e2e-cdf.csv, the e2e JSON's "cdf",
    or a coarse one through p50 / p99 / max."""
    cdf = {}
    source = None
    path = os.path.join(raw, "e2e-cdf.csv")
    if os.path.exists(path):
        source = "csv"
        with open(path) as f:
            for row in csv.DictReader(f):
                try:
                    cdf.setdefault(row["system"], []).append((float(row["latency_ns"]), float(row["fraction"])))
                except (KeyError, ValueError):
                    continue
    elif e2e and isinstance(e2e.get("cdf"), dict):
        source = "json"
        for system, points in e2e["cdf"].items():
            cdf[system] = [(float(p[0]), float(p[1])) for p in points]
    elif e2e:
        source = "p50_p99_max"
        # no full CDF from this dft-bench-e2e: a coarse one from its p50 / p99 / max at the fixed load
        for system in ("off", "difftrace", "host_reporting"):
            lat = e2e.get(system)
            if isinstance(lat, dict) and all(k in lat for k in ("p50_us", "p99_us", "max_us")):
                cdf[system] = [(0.0, 0.0), (lat["p50_us"] * 1e3, 0.5), (lat["p99_us"] * 1e3, 0.99),
                               (lat["max_us"] * 1e3, 1.0)]
    return cdf, source if cdf else None


def write_plot_data(data, host, nic, col, cdf, cdf_source):
    os.makedirs(data, exist_ok=True)

    def num(v):
        return "?" if v is None else "%.6g" % v

    with open(os.path.join(data, "ns_per_span.dat"), "w") as f:
        f.write("# system wall_ns_median app_cpu_ns_per_span\n")
        h = host or {}
        for label, wall, cpu in (("difftrace", "difftrace_ns_median", "offloaded_app_cpu_ns_per_span"),
                                 ("LTTng-UST", "lttng_ns_median", "lttng_app_cpu_ns_per_span"),
                                 ("host-reporting", "host_reporting_ns_median", "host_reporting_app_cpu_ns_per_span"),
                                 ("OTel Go SDK", "otel_go_ns_median", "otel_go_app_cpu_ns_per_span")):
            f.write('"%s" %s %s\n' % (label, num(h.get(wall)), num(h.get(cpu))))
    with open(os.path.join(data, "nic_throughput.dat"), "w") as f:
        f.write("# stage " + " ".join("%s_%d" % (b, r) for b in ("mmap", "dmadev") for r in RINGS) + " (Mspans/s)\n")
        for st in STAGES:
            vals = []
            for b in ("mmap", "dmadev"):
                for r in RINGS:
                    v = nic_rate(nic.get(b), st, r)
                    vals.append(None if v is None else v / 1e6)
            f.write('"%s" %s\n' % (st.replace("_", "+"), " ".join(num(v) for v in vals)))
    with open(os.path.join(data, "collector.dat"), "w") as f:
        f.write("# config wall_Mspans/s cpu_Mspans/s\n")
        for r in (col or {}).get("results", []):
            cpu = r.get("cpu_spans_per_s_median")
            f.write('"%s" %s %s\n' % (r["config"].replace("_", " "), num(r["spans_per_s_median"] / 1e6),
                                       num(cpu / 1e6 if cpu else None)))
    systems = sorted(cdf)
    with open(os.path.join(data, "cdf_systems.txt"), "w") as f:
        f.write(" ".join(systems) + "\n")
    with open(os.path.join(data, "cdf_title.txt"), "w") as f:
        f.write("Request latency at a fixed offered load (CDF%s)\n" %
                (", coarse: p50 / p99 / max only" if cdf_source == "p50_p99_max" else ""))
    for s in systems:
        with open(os.path.join(data, "cdf_%s.dat" % s), "w") as f:
            f.write("# latency_us fraction\n")
            for lat, frac in sorted(cdf[s]):
                f.write("%.3f %.6f\n" % (lat / 1e3, frac))


def assemble(args):
    host, e2e = load(args.raw, "host"), load(args.raw, "e2e")
    nic = {"mmap": load(args.raw, "nic_mmap"), "dmadev": load(args.raw, "nic_dmadev")}
    col = load(args.raw, "collector")
    instr = load(args.raw, "instr")
    notes = []
    try:
        with open(os.path.join(args.raw, "notes.txt")) as f:
            notes = [line.strip() for line in f if line.strip()]
    except OSError:
        pass
    h = host or {}
    filt = [nic_rate(nic["mmap"], "ingest_filter", r) for r in RINGS]
    filt = [v for v in filt if v is not None]
    summary = {
        "difftrace_ns_median": h.get("difftrace_ns_median"),
        "lttng_ns_median": h.get("lttng_ns_median"),
        "lttng_vs_difftrace_ratio": ratio(h.get("lttng_ns_median"), h.get("difftrace_ns_median")),
        "host_reporting_app_cpu_ns_per_span": h.get("host_reporting_app_cpu_ns_per_span"),
        "offloaded_app_cpu_ns_per_span": h.get("offloaded_app_cpu_ns_per_span"),
        "host_reporting_vs_offloaded_cpu_ratio": ratio(h.get("host_reporting_app_cpu_ns_per_span"),
                                                       h.get("offloaded_app_cpu_ns_per_span")),
        "otel_go_ns_median": h.get("otel_go_ns_median"),
        "otel_go_app_cpu_ns_per_span": h.get("otel_go_app_cpu_ns_per_span"),
        "otel_go_vs_offloaded_cpu_ratio": ratio(h.get("otel_go_app_cpu_ns_per_span"),
                                                h.get("offloaded_app_cpu_ns_per_span")),
        "span_instructions_per_span": ((instr or {}).get("variants", {}).get("child") or {}).get("instructions_per_span"),
        "span_tick_instructions_per_span": ((instr or {}).get("variants", {}).get("chain") or {}).get("instructions_per_span"),
        "difftrace_tick_ns_median": h.get("difftrace_tick_ns_median"),
        "nic_mmap_ingest_filter_spans_per_s": min(filt) if filt else None,
        "nic_mmap_ingest_validate_spans_per_s": nic_rate(nic["mmap"], "ingest_validate", 1),
        "nic_mmap_transport_spans_per_s": nic_rate(nic["mmap"], "transport", 1),
        "nic_dmadev_ingest_filter_spans_per_s": nic_rate(nic["dmadev"], "ingest_filter", 1),
        "collector_otlp_json_spans_per_s": collector_rate(col, "inproc_otlp"),
        "collector_sqlite_spans_per_s": collector_rate(col, "inproc_sqlite"),
        "collector_tcp_sqlite_spans_per_s": collector_rate(col, "tcp_sqlite"),
        "collector_tcp_sqlite_otlp_json_spans_per_s": collector_rate(col, "tcp_sqlite_otlp"),
    }
    goals = {
        "difftrace_span_ns": goal(summary["difftrace_ns_median"], 25, "le"),
        "lttng_vs_difftrace_ratio": goal(summary["lttng_vs_difftrace_ratio"], 4, "ge"),
        "host_reporting_vs_offloaded_cpu_ratio": goal(summary["host_reporting_vs_offloaded_cpu_ratio"], 50, "ge"),
        "otel_go_vs_offloaded_cpu_ratio": goal(summary["otel_go_vs_offloaded_cpu_ratio"], 50, "ge"),
        "nic_mmap_ingest_filter_spans_per_s": goal(summary["nic_mmap_ingest_filter_spans_per_s"], 20e6, "ge"),
        "nic_mmap_transport_spans_per_s": goal(summary["nic_mmap_transport_spans_per_s"], 3e6, "ge"),
        "nic_dmadev_ingest_filter_spans_per_s": goal(summary["nic_dmadev_ingest_filter_spans_per_s"], 10e6, "ge"),
        "collector_otlp_json_spans_per_s": goal(summary["collector_otlp_json_spans_per_s"], 2e6, "ge"),
    }
    cdf, cdf_source = read_cdf(args.raw, e2e)
    res = {
        "schema": SCHEMA,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": args.command,
        "quick": args.quick == "1",
        "machine": machine(),
        "summary": summary,
        "goals": goals,
        "host": host,
        "e2e": e2e,
        "e2e_cdf_systems": sorted(cdf),
        "e2e_cdf_source": cdf_source,
        "nic": nic,
        "collector": col,
        "instr": instr,
        "notes": notes,
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, args.out)
    write_plot_data(args.data, host, nic, col, cdf, cdf_source)


def print_summary(path):
    with open(path) as f:
        res = json.load(f)
    print("%-44s %16s" % ("summary", "value"))
    for k, v in res["summary"].items():
        print("%-44s %16s" % (k, "null" if v is None else ("%.4g" % v)))
    print("%-44s %16s %10s %6s" % ("goal", "value", "target", "met"))
    for k, g in res["goals"].items():
        v = "null" if g["value"] is None else "%.4g" % g["value"]
        print("%-44s %16s %10s %6s" % (k, v, ("<= " if g["compare"] == "le" else ">= ") + "%g" % g["target"],
                                       {True: "yes", False: "NO", None: "-"}[g["met"]]))
    for n in res.get("notes", []):
        print("note: " + n)


def fmt(v, scale=1.0, digits=3):
    return "n/a" if v is None else ("%." + str(digits) + "g") % (v / scale)


def print_markdown(path):
    """The tables docs/benchmarks.md shows for the latest run."""
    with open(path) as f:
        res = json.load(f)
    m = res["machine"]
    print("Run `%s`, %s, %s (family %s, model %s; %s CPUs), %s, kernel %s%s." % (
          res["command"], res["generated_utc"], m["cpu_model"], m.get("cpu_family"), m.get("cpu_model_number"),
          m["cpus"], m["os"], m["kernel"], ", quick" if res["quick"] else ""))
    print()
    print("| goal | target | this run | met |")
    print("|---|---|---|---|")
    names = {"difftrace_span_ns": "difftrace span, host ns (median)",
             "lttng_vs_difftrace_ratio": "LTTng-UST event / difftrace span",
             "host_reporting_vs_offloaded_cpu_ratio": "host-reporting / offloaded app CPU per span",
             "otel_go_vs_offloaded_cpu_ratio": "OpenTelemetry Go SDK / offloaded app CPU per span",
             "nic_mmap_ingest_filter_spans_per_s": "NIC ingest+filter, mmap, per core (lowest of 1/4/16 rings)",
             "nic_mmap_transport_spans_per_s": "NIC batch + TCP, mmap, kept spans per core (1 ring)",
             "nic_dmadev_ingest_filter_spans_per_s": "NIC ingest+filter, dmadev (dma_skeleton), 1 ring",
             "collector_otlp_json_spans_per_s": "collector to OTLP JSON (decode + validate + sink)"}
    for k, g in res["goals"].items():
        big = g["target"] >= 1e6
        print("| %s | %s %s | %s | %s |" % (names.get(k, k), "<=" if g["compare"] == "le" else ">=",
              fmt(g["target"], 1e6) + " M/s" if big else "%g" % g["target"],
              fmt(g["value"], 1e6) + " M/s" if big and g["value"] is not None else fmt(g["value"]),
              {True: "yes", False: "no", None: "-"}[g["met"]]))
    print()
    for backend in ("mmap", "dmadev"):
        nic = res["nic"].get(backend)
        if not nic:
            continue
        print("dft-bench-nic, %s ingest: M spans/s per core (median; CPU time of the pipeline thread), "
              "wall clock in brackets" % backend)
        print()
        rings = sorted({r["rings"] for r in nic["results"]})
        print("| stage | " + " | ".join("%d ring%s" % (r, "s" if r > 1 else "") for r in rings) + " |")
        print("|---|" + "---|" * len(rings))
        for st in STAGES:
            cells = []
            for r in rings:
                x = [y for y in nic["results"] if y["stage"] == st and y["rings"] == r]
                cells.append("%s (%s)" % (fmt(x[0]["spans_per_s_median"], 1e6), fmt(x[0]["wall_spans_per_s_median"], 1e6))
                             if x else "n/a")
            print("| %s | %s |" % (st, " | ".join(cells)))
        print()
    col = res.get("collector")
    if col:
        print("dft-bench-collector: M spans/s (median, wall clock; per CPU second of the collector)")
        print()
        print("| config | wall | per CPU second |")
        print("|---|---|---|")
        for r in col["results"]:
            print("| %s | %s | %s |" % (r["config"], fmt(r["spans_per_s_median"], 1e6),
                                        fmt(r.get("cpu_spans_per_s_median"), 1e6)))
        print()
    h = res.get("host")
    if h:
        print("dft-bench-host (1 producer thread): ns per span (median) and application CPU ns per span")
        print()
        print("| system | ns/span | app CPU ns/span |")
        print("|---|---|---|")
        for label, wall, cpu in (("difftrace (offloaded)", "difftrace_ns_median", "offloaded_app_cpu_ns_per_span"),
                                 ("LTTng-UST", "lttng_ns_median", "lttng_app_cpu_ns_per_span"),
                                 ("host reporting", "host_reporting_ns_median", "host_reporting_app_cpu_ns_per_span"),
                                 ("OpenTelemetry Go SDK 1.1.0", "otel_go_ns_median", "otel_go_app_cpu_ns_per_span")):
            print("| %s | %s | %s |" % (label, fmt(h.get(wall)), fmt(h.get(cpu))))
        print()
    e = res.get("e2e")
    if e:
        print("dft-bench-e2e at %s req/s: request latency" % e.get("rate"))
        print()
        print("| mode | p50 us | p99 us | loss starts at req/s |")
        print("|---|---|---|---|")
        for mode in ("off", "difftrace", "host_reporting"):
            lat = e.get(mode) or {}
            print("| %s | %s | %s | %s |" % (mode, fmt(lat.get("p50_us")), fmt(lat.get("p99_us")),
                                             fmt(e.get(mode + "_loss_starts_at"))))
        print()
    for n in res.get("notes", []):
        print("- note: " + n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--out")
    ap.add_argument("--data")
    ap.add_argument("--command", default="bench/run-all.sh")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--summary")
    ap.add_argument("--markdown", help="print the latest-run tables of docs/benchmarks.md")
    args = ap.parse_args()
    if args.markdown:
        print_markdown(args.markdown)
        return 0
    if args.summary:
        print_summary(args.summary)
        return 0
    if not (args.raw and args.out and args.data):
        ap.error("--raw, --out and --data are required")
    assemble(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
