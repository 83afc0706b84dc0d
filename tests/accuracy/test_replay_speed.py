#!/usr/bin/env python3
"""Accuracy: replaying one recording at the recorded pace and as fast as possible keeps the same spans.

A tests/accuracy/workload.py recording (Knative-shaped, anomalies of every kind from the first
request, 8 s recorded) is replayed twice through real daemons on loopback: difftrace-replay
--threads 1 --speed 1 (each span when its recorded end is due) and --speed 0 (the same order, as
fast as the daemons drain). One replay thread and one NIC lcore make the arrival order the same in
both runs, so the NIC's decisions may depend only on the spans, never on when they arrived.

Every setting is the default: the profiler's windows and thresholds and the hold window's hold and
remember times all run on span time (docs/filter.md), so a fast replay that compresses a 1.5 s cold
start into microseconds holds that trace exactly as the recorded pace does.

Asserted: the set of (trace id, span id) the NIC reported (stored with reconstructed = 0) is the same
in both runs; both runs replayed every span without a drop, with the accounting identity exact; the
sets hold every function span (the comparison is about more than an empty set). On a difference the
message says which spans differ, by keep reason and by the truth's labels.
Exit 77: a binary is missing.
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from dft_harness import Failure, HarnessError, Pipeline, accounting, check  # noqa: E402
from matrix import BINARIES, default_lcores, recording, replay_into, stored_rows, wait_drained  # noqa: E402

REASONS = {1: "function", 2: "error", 4: "keep", 8: "cold_start", 16: "queueing", 32: "outlier",
           64: "contention", 128: "retro"}


def one_run(a, otlp, speed, n_spans):
    work = tempfile.mkdtemp(prefix=f"dft-speed{speed}-")
    nic_args = [x for kv in a.nic_set for x in ("--set", kv)]
    with Pipeline(a.bindir, workdir=work, lcores=a.lcores, keep=a.keep, nic_args=nic_args) as p:
        try:
            p.start()
            rep = replay_into(p, otlp, speed, timeout=600)
            check(rep["spans"] == n_spans and rep["dropped"] == 0 and rep["fini"] == 0,
                  f"--speed {speed}: replay summary {rep}, recording has {n_spans} spans")
            check(wait_drained(p, 120), f"--speed {speed}: difftrace-nic still holds spans after 120 s")
            p.stop()
            with open(p.nic_stats) as f:
                nic = json.load(f)
            produced, total = accounting(nic)
            check(produced == n_spans and produced == total,
                  f"--speed {speed}: produced {produced}, reported+filtered+lost {total}, replayed {n_spans}")
            rows = stored_rows(p.bindir, p.db)
            kept = {k: v[4] for k, v in rows.items() if not v[3]}
            check(len(kept) == nic["reported"], f"--speed {speed}: store {len(kept)} != reported {nic['reported']}")
        except (Failure, HarnessError):
            p.keep = True
            print(f"work dir kept: {work}", file=sys.stderr)
            raise
    return kept, rep


def reasons(bits):
    return "+".join(n for b, n in REASONS.items() if bits & b) or "none"


def describe(keys, kept, truth):
    by = {}
    for k in keys:
        t = truth[k]
        what = f"{reasons(kept[k])} [{','.join(t['kinds']) or 'normal'} {t['component']}]"
        by[what] = by.get(what, 0) + 1
    return ", ".join(f"{n}x {w}" for w, n in sorted(by.items(), key=lambda x: -x[1])[:8])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=0.02)
    ap.add_argument("--shape", default="lognormal")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--lcores", default=default_lcores())
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--nic-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="an extra difftrace-nic setting for both runs (checking the harness itself)")
    a = ap.parse_args()
    for b in BINARIES:
        if not os.access(os.path.join(a.bindir, b), os.X_OK):
            print(f"SKIP: {b} not built in {a.bindir}")
            return 77
    with tempfile.TemporaryDirectory(prefix="dft-speed-rec-") as cache:
        otlp, truth_path, meta = recording(cache, a.rate, a.shape, a.seconds, 100.0, a.seed)
        truth = {}
        with open(truth_path) as f:
            for line in f:
                s = json.loads(line)
                truth[(s["trace_id"], s["span_id"])] = s
        try:
            real, rep_real = one_run(a, otlp, 1, meta["spans"])
            fast, rep_fast = one_run(a, otlp, 0, meta["spans"])
            functions = {k for k, s in truth.items() if s["kind"] == "function"}
            check(functions <= set(real) and functions <= set(fast), "a function span was not reported")
            only_real, only_fast = set(real) - set(fast), set(fast) - set(real)
            check(not only_real and not only_fast,
                  f"kept span sets differ: {len(only_real)} kept only at the recorded pace "
                  f"({describe(only_real, real, truth)}); {len(only_fast)} kept only as fast as possible "
                  f"({describe(only_fast, fast, truth)}); {len(set(real) & set(fast))} kept in both")
        except (Failure, HarnessError) as e:
            print(f"FAIL replay_speed: {e}", file=sys.stderr)
            return 1
    print(f"PASS replay_speed: {meta['spans']} spans ({a.seconds:g} s recorded, {a.rate:g} per call and kind, "
          f"{a.shape}), the same {len(real)} spans kept at --speed 1 ({rep_real['late']} spans > 1 ms late) "
          f"and --speed 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
