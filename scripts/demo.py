#!/usr/bin/env python3
"""Run the whole difftrace pipeline on loopback and measure it against a ground truth.

difftrace-gen (Knative-shaped serverless workflows: ingress -> activator -> queue-proxy -> function,
with injected errors, queueing bursts, cold starts, CPU contention and latency outliers) ->
libdifftrace -> difftrace-nic (DPDK, emulated on a spare core) -> difftrace-collector (TCP, SQLite +
OTLP JSON); then `difftrace eval` compares the generator's ground truth with the store.

Prints a summary table and writes <out>/summary.json. Environment: DFT_DEMO_SECONDS (15) is the
measured run's length, DFT_DEMO_LCORES the NIC's cores (default: the last CPU this process may use).
"""
import argparse
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from dft_harness import HarnessError, Pipeline  # noqa: E402

# The workload runs at difftrace-gen's own default anomaly rates from its first request: no
# anomaly-free warm-up, as on a platform that has just started. Every trace that holds an anomaly
# is kept whole by the NIC's hold window, so "normal platform spans filtered" counts only the
# platform spans of traces with no anomaly at all.
RATE = "200"           # requests per second
RECON_DELAY_MS = 3000  # a platform span can reach the collector this long after the function span
                       # carrying its hop (latency outliers run 10-40x their usual duration)

ROWS = [
    ("anomalous spans stored verbatim", "anomalous_recall", "ratio", "anomalous_reported", "anomalous_total"),
    ("normal platform spans filtered", "platform_reduction", "ratio", None, "platform_normal_total"),
    ("traces complete (after recon.)", "trace_completeness", "ratio", "traces_complete", "traces_total"),
    ("recon. duration error, median", "recon_rel_err_median", "ratio", None, "recon_spans"),
    ("recon. duration error, p90", "recon_rel_err_p90", "ratio", None, None),
    ("spans produced", "produced", "count", None, None),
    ("reported (stored verbatim)", "reported", "count", None, None),
    ("filtered", "filtered", "count", None, None),
    ("lost", "lost", "count", None, None),
]


def last_json_line(text):
    return json.loads(text.strip().splitlines()[-1])


def slowest_anomalous_trace(db):
    """The slowest trace with a span kept for a reason other than being a function's (keep_reasons
    bits above 1, docs/filter.md) or with an error: the one worth opening in the view."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = c.execute("SELECT lower(hex(trace_id)) FROM spans GROUP BY trace_id"
                        " HAVING max((keep_reasons & 254) != 0) OR max(status = 2)"
                        " ORDER BY max(end_ns) - min(start_ns) DESC LIMIT 1").fetchone()
    finally:
        c.close()
    return row[0] if row else None


def wait_drained(p, timeout):
    """Until the NIC holds nothing (in_flight counts held spans and batches not yet acknowledged)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = p.nic_telemetry()
        except OSError:
            st = None
        if st and st.get("in_flight", 1) == 0:
            return True
        time.sleep(0.2)
    return False


def default_lcores():
    cpus = sorted(os.sched_getaffinity(0))
    return str(cpus[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--out", default="demo-out")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("DFT_DEMO_SECONDS", "15")))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lcores", default=os.environ.get("DFT_DEMO_LCORES") or default_lcores())
    a = ap.parse_args()
    if a.seconds < 1:
        ap.error("--seconds: at least 1")
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    for f in ("spans.db", "spans.db-wal", "spans.db-shm", "spans.otlp.jsonl", "truth.jsonl", "truth-all.jsonl",
              "summary.json", "nic-stats.json", "collector-stats.json", "nic.log", "collector.log"):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    gen = os.path.join(a.bindir, "difftrace-gen")
    cli = os.path.join(a.bindir, "difftrace")
    truth = os.path.join(out, "truth.jsonl")
    run_cmd = [gen, "--truth", truth, "--seconds", str(a.seconds), "--rate", RATE, "--seed", str(a.seed)]
    t_start = time.monotonic()
    with Pipeline(a.bindir, workdir=out, keep=True, lcores=a.lcores,
                  collector_args=["--recon-delay-ms", str(RECON_DELAY_MS)]) as p:
        p.start()
        print(f"difftrace demo: collector and difftrace-nic (lcores {a.lcores}) up on loopback; "
              f"{a.seconds} s of workload at {RATE} requests/s, difftrace-gen's default anomaly rates, "
              f"no warm-up", file=sys.stderr)
        gen_sum = last_json_line(p.run_app(run_cmd, timeout=a.seconds * 10 + 120))
        # the generator's dft_fini waited for the rings; the NIC may still hold spans (hold window,
        # unacknowledged batches); then the collector waits RECON_DELAY_MS for late platform spans
        drained = wait_drained(p, 30)
        time.sleep(RECON_DELAY_MS / 1000 + 1)
        p.stop()
    eval_cmd = [cli, "eval", "--truth", truth, "--db", p.db, "--nic-stats", p.nic_stats, "--json"]
    r = subprocess.run(eval_cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise HarnessError(f"difftrace eval exited {r.returncode}: {r.stderr.strip()}")
    ev = last_json_line(r.stdout)

    summary = {k: ev.get(k) for k in ("anomalous_recall", "platform_reduction", "trace_completeness",
                                      "recon_rel_err_median", "recon_rel_err_p90", "produced", "reported",
                                      "filtered", "lost", "lost_by_reason", "accounting_ok")}
    summary.update({
        "anomalous_total": ev.get("anomalous_total"), "anomalous_reported": ev.get("anomalous_reported"),
        "platform_normal_total": ev.get("platform_normal_total"),
        "platform_normal_reported": ev.get("platform_normal_reported"),
        "traces_total": ev.get("traces_total"), "traces_complete": ev.get("traces_complete"),
        "recon_spans": ev.get("recon_spans"), "store_duplicates": ev.get("store_duplicates"),
        "store_not_in_truth": ev.get("store_not_in_truth"),
        "anomalies_injected": gen_sum.get("anomalies"),
        "generator": {"requests": gen_sum["requests"], "spans": gen_sum["spans"],
                      "platform_spans": gen_sum["platform_spans"], "function_spans": gen_sum["function_spans"],
                      "delay_early": gen_sum.get("delay_early", 0)},
        "nic_drained": drained,
        "seconds": a.seconds, "warmup_seconds": 0, "rate": float(RATE), "seed": a.seed,
        "db": p.db, "otlp": p.otlp, "truth": truth,
        "commands": [shlex.join(run_cmd), shlex.join(eval_cmd)],
        "wall_seconds": round(time.monotonic() - t_start, 1),
    })
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    g = summary["generator"]
    print(f"difftrace demo: {g['requests']} requests, {g['spans']} spans "
          f"({100.0 * g['platform_spans'] / max(g['spans'], 1):.1f}% platform) through "
          f"libdifftrace -> difftrace-nic -> difftrace-collector")
    print(f"  anomalies injected: " + ", ".join(f"{k} {v}" for k, v in (gen_sum.get("anomalies") or {}).items()))
    print(f"  {'':<34}{'value':>12}  of")
    for label, key, kind, num, den in ROWS:
        v = summary.get(key, ev.get(key))
        if v is None:
            cell = "-"
        elif kind == "ratio":
            cell = f"{v:.4f}"
        else:
            cell = f"{v}"
        extra = ""
        if den and ev.get(den) is not None:
            extra = f"{ev.get(num)} / {ev[den]}" if num else f"{ev[den]}"
        print(f"  {label:<34}{cell:>12}  {extra}")
    print(f"  {'accounting identity':<34}{'exact' if summary['accounting_ok'] else 'BROKEN':>12}")
    print(f"  SQLite: {p.db}\n  OTLP JSON: {p.otlp}\n  summary: {os.path.join(out, 'summary.json')}")
    anom = slowest_anomalous_trace(p.db)
    if anom:
        print(f"  slowest anomalous trace: {shlex.join([cli, 'view', '--db', p.db, anom, '-o', os.path.join(out, 'trace.html')])}"
              f"\n    (also: difftrace critical-path --db {shlex.quote(p.db)} {anom}; difftrace serve --db {shlex.quote(p.db)})")
    return 0 if summary["accounting_ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (HarnessError, subprocess.TimeoutExpired) as e:
        print(f"difftrace demo: {e}", file=sys.stderr)
        sys.exit(1)
