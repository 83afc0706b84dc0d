#!/usr/bin/env python3
"""Integration: difftrace-replay -> libdifftrace -> difftrace-nic -> difftrace-collector on loopback.

A small OTLP JSON lines file (platform paths ingress -> activator -> queue-proxy -> function, nested
functions, a function behind an in-function sidecar, error spans, a component whose kind comes from
--platform-components, one malformed line) is replayed with its recorded ids and timestamps. Asserted:
the replay summary; every function span and every error span is stored and exported verbatim (ids,
parent, start, end, component, operation, status, status message: one line, cut to 120 bytes); nothing stored is unknown or altered; every
platform span on a function's path is in the store, reported or rebuilt from the synthesized hops,
with its recorded id, parent and start; the function spans' stored hops are exactly their platform
ancestors; the accounting identity holds.
"""
import argparse
import json
import os
import random
import sqlite3
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dft_harness import Pipeline, accounting, check, run_checked  # noqa: E402

BASE_NS = 1_700_000_000_000_000_000
LEGACY = "legacy-proxy"  # no difftrace.component.kind attribute: platform by --platform-components




def build_traces(n, seed):
    """Spans as dicts: trace, id, parent, component, kind, name, start, end, status, queue, cold."""
    rnd = random.Random(seed)
    used = set()

    def sid():
        while True:
            v = rnd.getrandbits(64)
            if v and v not in used:
                used.add(v)
                return "%016x" % v

    traces = []
    for t in range(n):
        tid = "%032x" % rnd.getrandbits(128)
        t0 = BASE_NS + t * 10_000_000
        out = []

        def add(parent, comp, kind, name, start, dur, status=0, queue=0, cold=False, attrs=None):
            s = {"trace": tid, "id": sid(), "parent": parent, "component": comp, "kind": kind, "name": name,
                 "start": start, "end": start + dur, "status": status, "queue": queue, "cold": cold,
                 "attrs": attrs or {}}
            out.append(s)
            return s

        shape = t % 4
        root = add("", "ingress", "platform", "route", t0, 900_000, status=2 if t % 7 == 0 else 0)
        act = add(root["id"], "activator", "platform", "proxy", t0 + 10_000, 850_000, queue=1234 if t % 3 == 0 else 0)
        mid = act
        if shape == 1:
            mid = add(act["id"], LEGACY, None, "forward", t0 + 15_000, 820_000)
        qp = add(mid["id"], "queue-proxy", "platform", "queue", t0 + 20_000, 800_000, status=2 if t % 5 == 1 else 0)
        fn = add(qp["id"], "fn-%d" % (t % 3), "function", "handle", t0 + 30_000, 700_000, cold=(t % 6 == 0),
                 status=2 if t % 11 == 3 else 0, attrs={"app.attempt": t % 4, "app.size": 100 + t})
        if shape == 2:
            add(fn["id"], "fn-inner", "function", "compute", t0 + 40_000, 300_000)
        if shape == 3:
            side = add(fn["id"], "sidecar", "platform", "egress", t0 + 50_000, 200_000)
            add(side["id"], "fn-down", "function", "serve", t0 + 60_000, 100_000)
        for s in out:
            # most errors say why (one over the 120 bytes a slot holds, one over two lines)
            if s["status"] == 2 and t % 4 != 2:
                s["message"] = {0: "no ready revision for fn-%d" % (t % 3), 1: "upstream reset\nretry in 5 s",
                                3: "caf\u00e9 " + "x" * 130}[t % 4]
        traces.append(out)
    return traces


def sent_message(s):
    """The status message as it must come out: one line, at most 120 bytes, whole characters."""
    m = s.get("message", "").replace("\n", " ")
    b = m.encode()[:120]
    return b.decode("utf-8", errors="ignore")


def otlp_line(spans):
    by_comp = {}
    for s in spans:
        by_comp.setdefault((s["component"], s["kind"]), []).append(s)
    rss = []
    for (comp, kind), group in by_comp.items():
        rattrs = [{"key": "service.name", "value": {"stringValue": comp}}]
        if kind:
            rattrs.append({"key": "difftrace.component.kind", "value": {"stringValue": kind}})
        out = []
        for s in group:
            attrs = [{"key": k, "value": {"intValue": str(v)}} for k, v in s["attrs"].items()]
            if s["queue"]:
                attrs.append({"key": "difftrace.queue_ns", "value": {"intValue": str(s["queue"])}})
            if s["cold"]:
                attrs.append({"key": "difftrace.cold_start", "value": {"boolValue": True}})
            attrs.append({"key": "http.route", "value": {"stringValue": "/x"}})  # not numeric: not replayed
            j = {"traceId": s["trace"], "spanId": s["id"], "parentSpanId": s["parent"], "name": s["name"],
                 "kind": 2 if s["kind"] == "function" else 1, "startTimeUnixNano": str(s["start"]),
                 "endTimeUnixNano": str(s["end"]), "attributes": attrs}
            if s["status"]:
                j["status"] = {"code": s["status"]}
                if s.get("message"):
                    j["status"]["message"] = s["message"]
            out.append(j)
        rss.append({"resource": {"attributes": rattrs},
                    "scopeSpans": [{"scope": {"name": "recorder"}, "spans": out}]})
    return json.dumps({"resourceSpans": rss}, separators=(",", ":"))


def write_otlp(path, traces, batch_lines, traces_per_batch, seed):
    """Whole traces per replay batch (its --batch-lines), but within a batch the spans are shuffled
    over the lines the way an exporter batches: a trace straddles lines, children come before their
    parents. One batch carries a malformed line among its lines. Returns (lines, malformed line)."""
    rnd = random.Random(seed)
    groups = [traces[i:i + traces_per_batch] for i in range(0, len(traces), traces_per_batch)]
    bad_group = len(groups) // 2
    lines, bad_line = [], None
    for g, group in enumerate(groups):
        flat = [s for t in group for s in t]
        rnd.shuffle(flat)
        k = batch_lines - (1 if g == bad_group else 0)
        assert len(flat) >= k
        part = [otlp_line(flat[i * len(flat) // k:(i + 1) * len(flat) // k]) for i in range(k)]
        if g == bad_group:
            part.insert(k // 2, '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-hex"}]}]}]}')
            bad_line = len(lines) + k // 2 + 1
        lines.extend(part)
    with open(path, "w") as f:
        for line in lines:
            f.write(line + "\n")
    return len(lines), bad_line


def name_hash(component, operation):
    """A hop's name as the header carries it: FNV-1a 64 over component, 0xff, operation, folded."""
    h = 0xcbf29ce484222325
    for b in component.encode() + b"\xff" + operation.encode():
        h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
    return (h ^ (h >> 32)) & 0xffffffff


def platform_ancestors(spans_by_id, s):
    """The hops a function span must carry: its platform ancestors, outermost first."""
    out = []
    p = spans_by_id.get((s["trace"], s["parent"]))
    while p is not None and p["kind"] != "function":
        out.append(p)
        p = spans_by_id.get((p["trace"], p["parent"]))
    return out[::-1]


def kind_of(s):
    return s["kind"] or "platform"


def run(p, replay, traces, threads):
    trace_list = build_traces(traces, seed=17)
    spans = [s for t in trace_list for s in t]
    by_id = {(s["trace"], s["id"]): s for s in spans}
    otlp = p.path("recorded.otlp.jsonl")
    batch_lines = 8
    n_lines, bad_line = write_otlp(otlp, trace_list, batch_lines, traces_per_batch=10, seed=18)

    p.start()
    r = subprocess.run([replay, "--in", otlp, "--platform-components", f"{LEGACY},unused", "--threads", str(threads),
                        "--batch-lines", str(batch_lines), "--fini-ms", "10000"],
                       env=p.app_env(), capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"difftrace-replay exited {r.returncode}: {r.stderr}")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    check(f"line {bad_line}:" in r.stderr, f"malformed line {bad_line} not reported by number: {r.stderr!r}")
    check(summary["lines"] == n_lines and summary["skipped"] == 1, f"summary {summary}: {n_lines} lines, 1 bad")
    check(summary["spans"] == len(spans), f"replayed {summary['spans']} spans of {len(spans)}")
    check(summary["produced"] == len(spans) and summary["dropped"] == 0 and summary["fini"] == 0,
          f"host side: {summary}")
    check(summary["hops_dropped"] == 0, f"hops lost: {summary}")
    n_msg = sum(1 for s in spans if s.get("message"))
    check(summary["status_messages"] == n_msg and summary["status_messages_refused"] == 0,
          f"status messages: {summary}, {n_msg} in the recording")
    p.stop()

    nic = json.load(open(p.nic_stats))
    produced, total = accounting(nic)
    check(produced == len(spans), f"NIC produced={produced}, replayed {len(spans)}")
    check(produced == total, f"accounting identity broken: {nic}")

    stored = p.stored_spans()
    exported = p.exported_spans()
    check(set(stored) == set(exported), "SQLite and OTLP output differ in their reported spans")
    check(len(stored) == nic["reported"], f"store holds {len(stored)} reported spans, NIC reported {nic['reported']}")
    for k, got in stored.items():
        s = by_id.get(k)
        check(s is not None, f"stored span {k} was never replayed")
        for what, out in (("SQLite", got), ("OTLP", exported[k])):
            want = {"parent": s["parent"] or "0" * 16, "start_ns": s["start"], "end_ns": s["end"],
                    "component": s["component"], "operation": s["name"], "status": s["status"],
                    "status_message": sent_message(s)}
            have = {f: out[f] for f in want}
            check(have == want, f"{what}: span {k} stored as {have}, recorded {want}")
        check(got["kind"] == (2 if kind_of(s) == "function" else 1), f"span {k}: kind {got['kind']}")
        for a, v in s["attrs"].items():
            check(got["attrs"].get(a) == v, f"span {k}: attrs {got['attrs']} lack {a}={v}")

    must = [s for s in spans if s["kind"] == "function" or s["status"] == 2]
    missing = [(s["trace"], s["id"]) for s in must if (s["trace"], s["id"]) not in stored]
    check(not missing, f"{len(missing)} function/error spans not stored, e.g. {missing[:3]}")

    # every platform span on a function's path: reported, or rebuilt from the hops with its own ids
    # hop lists as stored (28-byte records: span id, parent, start as u64 LE, name hash as u32 LE)
    con = sqlite3.connect(p.db)
    try:
        hop_rows = con.execute("SELECT lower(hex(trace_id)), span_id, hops FROM spans WHERE hops IS NOT NULL").fetchall()
    finally:
        con.close()
    stored_hops = {}
    for t, sid, blob in hop_rows:
        check(isinstance(blob, bytes) and len(blob) % 28 == 0, f"span {sid:x}: hops not 28-byte records")
        stored_hops[(t, "%016x" % (sid & (2**64 - 1)))] = [
            dict(zip(("span_id", "parent_span_id", "start_ns", "name_hash"), struct.unpack_from("<QQQI", blob, o)))
            for o in range(0, len(blob), 28)]
    # every span as readers see it: reported, or rebuilt from those hops
    all_rows = {}
    for d in p.read_spans():
        all_rows[(d["trace_id"], d["span_id"])] = (d["trace_id"], int(d["span_id"], 16), int(d["parent_span_id"], 16),
                                                   d["start_ns"], int(d["reconstructed"]), None, d["component"],
                                                   d["operation"])
    recon = 0
    for s in spans:
        if s["kind"] != "function":
            continue
        chain = platform_ancestors(by_id, s)
        hops = stored_hops.get((s["trace"], s["id"]), [])
        want = [{"span_id": int(h["id"], 16), "parent_span_id": int(h["parent"] or "0", 16), "start_ns": h["start"],
                 "name_hash": name_hash(h["component"], h["name"])} for h in chain]
        check(hops == want, f"function span {s['id']}: stored hops {hops} != platform ancestors {want}")
        for h in chain:
            r = all_rows.get((h["trace"], h["id"]))
            check(r is not None, f"platform span {h['id']} on the path of {s['id']} neither reported nor rebuilt")
            check(("%016x" % (r[2] & (2**64 - 1)), r[3] & (2**64 - 1)) == (h["parent"] or "0" * 16, h["start"]),
                  f"platform span {h['id']}: parent/start {r[2]}/{r[3]} != recorded")
            # a rebuilt span's name came back from its hash through the NIC's profiles
            check((r[6], r[7]) == (h["component"], h["name"]),
                  f"platform span {h['id']}: name {r[6]}/{r[7]} != recorded {h['component']}/{h['name']}")
            recon += r[4] != 0
    # difftrace eval over the same run: the recording is the ground truth, error spans the anomalies
    truth = p.path("truth.jsonl")
    with open(truth, "w") as f:
        for s in spans:
            f.write(json.dumps({"trace_id": s["trace"], "span_id": s["id"], "parent_span_id": s["parent"] or "0" * 16,
                                "component": s["component"], "operation": s["name"], "kind": kind_of(s),
                                "start_ns": s["start"], "end_ns": s["end"], "anomalous": s["status"] == 2,
                                "anomaly": "error" if s["status"] == 2 else None}) + "\n")
    r = subprocess.run([os.path.join(p.bindir, "difftrace"), "eval", "--truth", truth, "--db", p.db, "--nic-stats",
                        p.nic_stats, "--json"], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"difftrace eval exited {r.returncode}: {r.stderr}")
    ev = json.loads(r.stdout)
    n_err = sum(1 for s in spans if s["status"] == 2)
    n_norm = sum(1 for s in spans if kind_of(s) == "platform" and s["status"] != 2)
    norm_reported = sum(1 for s in spans if kind_of(s) == "platform" and s["status"] != 2
                        and (s["trace"], s["id"]) in stored)
    want = {"anomalous_total": n_err, "anomalous_reported": n_err, "anomalous_recall": 1.0,
            "platform_normal_total": n_norm, "platform_normal_reported": norm_reported,
            "traces_total": len(trace_list), "traces_complete": len(trace_list), "trace_completeness": 1.0,
            "recon_spans": recon, "produced": len(spans), "reported": nic["reported"],
            "filtered": nic["filtered"], "lost": total - nic["reported"] - nic["filtered"], "accounting_ok": True}
    diff = {k: (ev.get(k), v) for k, v in want.items() if ev.get(k) != v}
    check(not diff, f"difftrace eval: (got, expected) {diff}")
    check(abs(ev["platform_reduction"] - (1 - norm_reported / n_norm)) < 1e-5, f"eval reduction {ev}")
    filtered = nic["filtered"]
    check(nic["status_msg_invalid"] == 0, f"the NIC refused status messages: {nic}")
    shape = p.check_otlp_shape()
    return (f"{len(spans)} spans replayed ({threads} threads), {len(stored)} reported, {filtered} filtered, "
            f"{recon} path hops rebuilt, {n_msg} status messages round-tripped, "
            f"{shape['rebuilt_with_parent']} rebuilt spans inside their parent, identity exact")


def check_speed(replay, workdir):
    """--speed paces by the recorded end times: two spans ending 1 s apart take >= 0.5 s at --speed 2
    (a lower bound: a loaded machine only makes it longer); --speed with --rate is a usage error."""
    import time
    path = os.path.join(workdir, "speed.otlp.jsonl")
    spans = [{"trace": "%032x" % (i + 1), "id": "%016x" % (i + 1), "parent": "", "component": "ingress",
              "kind": "platform", "name": "route", "start": BASE_NS + i * 1_000_000_000,
              "end": BASE_NS + i * 1_000_000_000 + 1000, "status": 0, "queue": 0, "cold": False, "attrs": {}}
             for i in range(2)]
    with open(path, "w") as f:
        f.write(otlp_line(spans) + "\n")
    t0 = time.monotonic()
    r = subprocess.run([replay, "--in", path, "--no-daemon", "--speed", "2", "--fini-ms", "0"],
                       capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    check(r.returncode == 0, f"--speed 2 exited {r.returncode}: {r.stderr}")
    check(json.loads(r.stdout.strip().splitlines()[-1])["spans"] == 2, f"--speed 2: {r.stdout}")
    check(took >= 0.5, f"--speed 2 replayed spans recorded 1 s apart in {took:.3f} s")
    r = subprocess.run([replay, "--in", path, "--no-daemon", "--speed", "1", "--rate", "10"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "exclude" in r.stderr, f"--speed with --rate: {r.returncode} {r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--traces", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lcores", default="0-1")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    replay = os.path.join(a.bindir, "difftrace-replay")
    with Pipeline(a.bindir, lcores=a.lcores, keep=a.keep) as p:
        rc = run_checked(p, "replay --speed", lambda p: check_speed(replay, p.dir) or "paced by recorded ends")
        return rc or run_checked(p, "replay", run, replay, a.traces, a.threads)


if __name__ == "__main__":
    sys.exit(main())
