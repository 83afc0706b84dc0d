#!/usr/bin/env python3
"""Integration: OTLP/HTTP export against a receiver built on the official OTLP definitions.

difftrace-gen drives libdifftrace through the real difftrace-nic and difftrace-collector; the
collector POSTs every span it stores and every platform span it rebuilds (--otlp-http) to a Node.js receiver that decodes
each request with @opentelemetry/otlp-transformer@0.52.1's protobufjs build of opentelemetry-proto
(installed with npm into the build tree on first use). Scenarios:
  compare     gzip on; every span received equals its stored row (ids, times, name, kind,
              attributes, status, resource service.name) or, for a rebuilt platform span (not a row:
              lazy reconstruction), the span `difftrace dump` rebuilds from the stored hop lists and
              profiles; every reported and every rebuilt span was received once,
              one resource per service per request, the exporter's accounting balances; the OTLP
              JSON file moved away mid-run and SIGHUP: both files hold whole lines with one
              resourceSpans per service, together every span the exporter took
  retry       the receiver answers the first requests 503 with Retry-After: 1: retries counted,
              nothing lost
  queue-full  a slow receiver and a 200-span queue: drops counted, what was sent arrived, and
              in = sent + dropped
Exit 77 when node or npm is missing.
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dft_harness import Pipeline, check, dump_spans, run_checked, wait_for_file  # noqa: E402

OTLP_PKG = "@opentelemetry/otlp-transformer@0.52.1"
ROOT_JS = "node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js"
HERE = os.path.dirname(os.path.abspath(__file__))


def npm_root(npm_dir):
    root = os.path.join(npm_dir, ROOT_JS)
    if not os.path.exists(root):
        os.makedirs(npm_dir, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", npm_dir, OTLP_PKG],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0 or not os.path.exists(root):
            raise SystemExit(f"npm install {OTLP_PKG} into {npm_dir} failed: {r.stderr.strip()[-2000:]}")
    return root


def u64(v):
    return v & (2**64 - 1)


def store_rows(db):
    """The spans the NICs reported, as stored rows (reconstructed = 0), keyed (trace, span, 0)."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT hex(trace_id), span_id, parent_span_id, start_ns, end_ns, component, operation,"
                           " kind, status, span_kind, queue_ns, flags, attrs, status_message"
                           " FROM spans WHERE reconstructed = 0").fetchall()
    finally:
        con.close()
    out = {}
    for r in rows:
        key = (r[0].lower(), "%016x" % u64(r[1]), 0)
        attrs = {k: str(v) for k, v in (json.loads(r[12]) if r[12] else {}).items()}
        if u64(r[10]) > 0:
            attrs["difftrace.queue_ns"] = str(u64(r[10]))
        if r[11] & 16:  # DFT_SF_COLD_START
            attrs["difftrace.cold_start"] = True
        out[key] = {"service": r[5], "component_kind": {1: "platform", 2: "function"}.get(r[7], "unknown"),
                    "scope": "difftrace", "trace_id": r[0].lower(), "span_id": "%016x" % u64(r[1]),
                    "parent_span_id": "%016x" % u64(r[2]) if r[2] else "", "name": r[6],
                    "kind": r[9] or 1, "start": str(u64(r[3])), "end": str(u64(r[4])), "attrs": attrs,
                    "status_code": r[8], "status_message": r[13] or ""}
    return out


def rebuilt_spans(bindir, db):
    """The platform spans readers rebuild from the stored hop lists and profiles (`difftrace dump`;
    nothing rebuilt is a row), keyed (trace, span, 1): what the collector must have exported."""
    out = {}
    for d in dump_spans(bindir, db):
        if not d["reconstructed"]:
            continue
        key = (d["trace_id"], d["span_id"], 1)
        attrs = {"difftrace.reconstructed": True}
        if d["queue_ns"] > 0:
            attrs["difftrace.queue_ns"] = str(d["queue_ns"])
        out[key] = {"service": d["component"], "component_kind": d["kind"], "scope": "difftrace",
                    "trace_id": d["trace_id"], "span_id": d["span_id"],
                    "parent_span_id": "" if d["parent_span_id"] == "0" * 16 else d["parent_span_id"],
                    "name": d["operation"], "kind": d["span_kind"] or 1, "start": str(d["start_ns"]),
                    "end": str(d["end_ns"]), "attrs": attrs,
                    "status_code": {"UNSET": 0, "OK": 1, "ERROR": 2}[d["status"]],
                    "status_message": d.get("status_message", "")}
    return out


def received(path):
    reqs, refused, spans = [], 0, []
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            check("error" not in o, f"receiver: {o.get('error')}")
            if "refused" in o:
                refused += 1
                continue
            reqs.append(o)
            services = [(s["service"], s["component_kind"]) for s in o["spans"]]
            check(o["resources"] == len(set(services)),
                  f"a request has {o['resources']} resources for {len(set(services))} services")
            spans.extend(o["spans"])
    return reqs, refused, spans


class Receiver:
    def __init__(self, p, root, mode):
        self.port_file = p.path("receiver.port")
        self.out = p.path("received.jsonl")
        open(self.out, "w").close()
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "otlp_receiver.js"), "--root", root,
                                      "--port-file", self.port_file, "--out", self.out, "--mode", mode],
                                     stdout=open(p.path("receiver.log"), "w"), stderr=subprocess.STDOUT)
        wait_for_file(self.port_file, self.proc, "otlp_receiver.js")
        self.url = "http://127.0.0.1:%d/v1/traces" % int(open(self.port_file).read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_gen(p, bindir, seconds):
    gen = os.path.join(bindir, "difftrace-gen")
    p.run_app([gen, "--truth", p.path("truth.jsonl"), "--seconds", str(seconds), "--rate", "150",
               "--threads", "2", "--seed", "7", "--error-rate", "0.05", "--queue-rate", "0.03",
               "--cold-rate", "0.02"], timeout=seconds * 10 + 60)


def compare_all(store, spans):
    """Every received span equals its stored row (reported) or its rebuild as readers see it
    (`difftrace dump`). A rebuilt span whose real span arrived after the export (a late retroactive
    keep) has no rebuild left to read: it must at least match the stored real span's ids and start.
    Returns (the keys received, how many rebuilt spans a late real span superseded)."""
    seen, superseded = {}, 0
    for s in spans:
        rebuilt = s["attrs"].get("difftrace.reconstructed") is True
        key = (s["trace_id"], s["span_id"], 1 if rebuilt else 0)
        check(key not in seen, f"span {key} received twice")
        seen[key] = s
        want = store.get(key)
        if want is None and rebuilt and (key[0], key[1], 0) in store:
            real = store[(key[0], key[1], 0)]
            for k in ("service", "parent_span_id", "start"):
                check(s[k] == real[k], f"rebuilt span {key} superseded: {k} {s[k]!r}, the real span's {real[k]!r}")
            superseded += 1
            continue
        check(want is not None, f"received span {key} is neither stored nor rebuilt by readers")
        for k, v in want.items():
            check(s[k] == v, f"span {key}: {k} received {s[k]!r}, the store's {v!r}")
    return seen, superseded


def scenario(p, bindir, root, name):
    mode = {"compare": "ok", "retry": "retry:2", "queue-full": "slow:1500"}[name]
    rcv = Receiver(p, root, mode)
    p.collector_args = ["--otlp-http", rcv.url]
    if name == "compare":
        p.collector_args.append("--otlp-http-gzip")
    if name == "queue-full":
        p.collector_args += ["--otlp-http-queue", "200"]
    moved = p.otlp + ".moved"
    try:
        p.start()
        if name == "compare":
            # the JSON file moved away mid-run (logrotate) and the collector told with SIGHUP
            run_gen(p, bindir, 2)
            os.rename(p.otlp, moved)
            p.collector.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while not os.path.exists(p.otlp) and time.monotonic() < deadline:
                time.sleep(0.05)
            check(os.path.exists(p.otlp), "no new OTLP JSON file 10 s after SIGHUP")
            run_gen(p, bindir, 2)
        else:
            run_gen(p, bindir, 3)
        p.stop()
    finally:
        rcv.stop()
    col = json.load(open(p.collector_stats))
    store = store_rows(p.db)
    store.update(rebuilt_spans(bindir, p.db))
    reqs, refused, spans = received(rcv.out)
    seen, superseded = compare_all(store, spans)
    sin, sent = col["otlp_http_spans_in"], col["otlp_http_spans_sent"]
    dq, df = col["otlp_http_dropped_queue_full"], col["otlp_http_dropped_failed"]
    check(col["otlp_http_spans_queued"] == 0, f"{col['otlp_http_spans_queued']} spans still queued at exit")
    check(sin == sent + dq + df, f"exporter accounting: in {sin} != sent {sent} + dropped {dq} + failed {df}")
    check(sent == len(spans), f"collector counts {sent} spans sent, the receiver decoded {len(spans)}")
    check(col["otlp_http_requests_sent"] == len(reqs),
          f"{col['otlp_http_requests_sent']} requests sent, {len(reqs)} received")
    rebuilt = sum(1 for k in store if k[2])
    # the exporter takes every reported span and every rebuilt one the collector exported
    # (spans_reconstructed); readers rebuild the same set unless chains were cut or superseded
    check(sin == col["spans_stored"] + col["spans_reconstructed"],
          f"{sin} spans handed to the exporter, {col['spans_stored']} stored + {col['spans_reconstructed']} rebuilt")
    check(col["recon_cut"] == 0, f"{col['recon_cut']} reconstruction chains cut at this rate")
    check(len(store) - rebuilt == col["spans_stored"],
          f"the store holds {len(store) - rebuilt} reported rows, the collector counted {col['spans_stored']} stored")
    check(rebuilt + superseded == col["spans_reconstructed"],
          f"readers rebuild {rebuilt} spans (+{superseded} superseded), the collector exported "
          f"{col['spans_reconstructed']}")
    if name in ("compare", "retry"):
        missing = [k for k in store if k not in seen]
        check(not missing, f"{len(missing)} stored spans never received, e.g. {missing[:3]}")
        check(dq == 0 and df == 0, f"dropped {dq} (queue) + {df} (failed) with a willing receiver")
    if name == "compare":
        check(all(r["gzip"] for r in reqs), "a request without Content-Encoding: gzip")
        # the JSON file: before and after the reopen, one resourceSpans per service per line, and
        # together every exported span once (the HTTP export's count)
        n_json = 0
        for path in (moved, p.otlp):
            lines = 0
            with open(path) as f:
                for line in f:
                    lines += 1
                    rss = json.loads(line)["resourceSpans"]
                    services = [(a["value"]["stringValue"] for a in rs["resource"]["attributes"]
                                 if a["key"] == "service.name") for rs in rss]
                    services = [next(x) for x in services]
                    kinds = [[a["value"]["stringValue"] for a in rs["resource"]["attributes"]
                              if a["key"] == "difftrace.component.kind"][0] for rs in rss]
                    check(len(set(zip(services, kinds))) == len(rss), f"{path}: a service twice in one line")
                    n_json += sum(len(ss["spans"]) for rs in rss for ss in rs["scopeSpans"])
            check(lines > 0, f"{path}: no line (SIGHUP reopen)")
        check(n_json == sin, f"the OTLP JSON files hold {n_json} spans, the HTTP exporter took {sin}")
    if name == "retry":
        check(refused == 2, f"receiver refused {refused} requests, expected 2")
        check(col["otlp_http_retries"] >= 2, f"{col['otlp_http_retries']} retries counted after 2 refusals")
    if name == "queue-full":
        check(dq > 0, f"no drop counted with a 200-span queue and a receiver taking 1.5 s per request ({sin} in)")
    return (f"{len(spans)} spans in {len(reqs)} requests decoded and equal to the store ({len(store)} rows, "
            f"{rebuilt} rebuilt, {superseded} superseded); in {sin} sent {sent} dropped {dq}+{df} retries {col['otlp_http_retries']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--npm-dir", required=True, help="where the OTLP package is installed (cache)")
    ap.add_argument("--scenario", choices=("compare", "retry", "queue-full"), required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not shutil.which("node") or not shutil.which("npm"):
        print("SKIP: node or npm missing")
        return 77
    root = npm_root(a.npm_dir)
    with Pipeline(a.bindir, keep=a.keep) as p:
        return run_checked(p, f"otlp_http_{a.scenario}", scenario, a.bindir, root, a.scenario)


if __name__ == "__main__":
    sys.exit(main())
