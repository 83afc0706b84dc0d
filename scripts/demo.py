#!/usr/bin/env python3
"""Run the whole difftrace pipeline on loopback with embedded defaults and print a summary.

collector (TCP, SQLite + OTLP JSON) <- difftrace-nic (DPDK, emulated on a spare core) <- traced
test workload (Knative-shaped traces: ingress -> activator -> queue-proxy -> function).
"""
import argparse
import json
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from dft_harness import LOST_KEYS, Pipeline, accounting  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--out", default="demo-out")
    ap.add_argument("--traces", type=int, default=int(os.environ.get("DFT_DEMO_TRACES", "5000")),
                    help="traces per app thread")
    ap.add_argument("--pace-us", type=int, default=100,
                    help="pause between traces of one thread: an offered load, not a tight loop")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    for f in ("spans.db", "spans.db-wal", "spans.db-shm", "spans.otlp.jsonl"):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    app = os.path.join(a.bindir, "dft_testapp")
    with Pipeline(a.bindir, workdir=out, keep=True) as p:
        p.start()
        summaries = []

        def run(i):
            r = p.run_app([app, "--manifest", p.path(f"app{i}.manifest.jsonl"), "--component", f"app{i}",
                           "--threads", "2", "--traces", str(a.traces), "--seed", str(100 + i),
                           "--pace-us", str(a.pace_us), "--error-pct", "1", "--keep-pct", "0"])
            summaries.append(json.loads(r.strip().splitlines()[-1]))

        ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        p.stop()
        nic = json.load(open(p.nic_stats))
        col = json.load(open(p.collector_stats))
    produced, total = accounting(nic)
    lost = sum(nic[k] for k in LOST_KEYS)
    platform = 0
    for i in range(2):
        with open(os.path.join(out, f"app{i}.manifest.jsonl")) as f:
            platform += sum(1 for line in f if '"function":false' in line)
    summary = {
        "produced": produced, "reported": nic["reported"], "filtered": nic["filtered"], "lost": lost,
        "lost_by_reason": {k: nic[k] for k in LOST_KEYS},
        "platform_spans": platform,
        "platform_reduction": (nic["filtered"] / platform) if platform else 0.0,
        "collector_spans_stored": col["spans_stored"],
        "accounting_ok": produced == total and col["spans_stored"] == nic["reported"],
        "sqlite": p.db, "otlp_json": p.otlp,
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("difftrace demo: %d traces through libdifftrace -> difftrace-nic -> difftrace-collector" % (
        produced // 4))
    print(f"  {'spans produced':<28}{produced:>10}")
    print(f"  {'reported (stored)':<28}{nic['reported']:>10}")
    print(f"  {'filtered (normal platform)':<28}{nic['filtered']:>10}")
    print(f"  {'lost':<28}{lost:>10}")
    print(f"  {'platform-span reduction':<28}{summary['platform_reduction']:>10.3f}")
    print(f"  {'accounting identity':<28}{'exact' if summary['accounting_ok'] else 'BROKEN':>10}")
    print(f"  SQLite: {p.db}\n  OTLP JSON: {p.otlp}\n  summary: {os.path.join(out, 'summary.json')}")
    return 0 if summary["accounting_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
