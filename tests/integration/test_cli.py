#!/usr/bin/env python3
"""The difftrace CLI for scripts: --json on traces, show and stats, the filters, exit codes.

A short difftrace-gen run through difftrace-nic and difftrace-collector makes a real store (with
errors and rebuilt spans); then:
  - traces/show/stats --json parse, and agree with each other and with `dump`;
  - every filter keeps exactly the traces it should (checked against the unfiltered list);
  - two reads give identical output (the rebuild is deterministic), and the rebuilt spans the
    collector exported to OTLP are exactly the ones readers rebuild (nothing rebuilt is stored);
  - exit codes: 0 ok (also when nothing matches), 1 store unreadable, 2 usage, 3 trace not found.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dft_harness import Failure, HarnessError, Pipeline, check, dump_spans  # noqa: E402


def run(bindir, *args):
    return subprocess.run([os.path.join(bindir, "difftrace")] + list(args), capture_output=True, text=True,
                          timeout=300)


def ok_json(bindir, *args):
    r = run(bindir, *args)
    check(r.returncode == 0, f"difftrace {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    a = ap.parse_args()
    b = a.bindir
    try:
        with Pipeline(b) as p:
            p.start()
            p.run_app([os.path.join(b, "difftrace-gen"), "--truth", p.path("truth.jsonl"), "--seconds", "3",
                       "--rate", "100", "--threads", "1", "--seed", "5", "--error-rate", "0.05"], timeout=120)
            p.stop()
            db = p.db
            all_t = ok_json(b, "traces", "--db", db, "--json", "--limit", "100000")
            check(len(all_t) > 100, f"{len(all_t)} traces")
            spans = dump_spans(b, db)
            check(sum(t["spans"] for t in all_t) == len(spans), "traces' span counts != dump")
            check(sum(t["reconstructed"] for t in all_t) == sum(s["reconstructed"] for s in spans) > 0,
                  "rebuilt counts differ between traces and dump")
            # the collector's OTLP export of rebuilt spans is what readers rebuild, span for span
            exported = {}
            with open(p.otlp) as f:
                for line in f:
                    for rs in json.loads(line)["resourceSpans"]:
                        comp = rs["resource"]["attributes"][0]["value"]["stringValue"]
                        for ss in rs["scopeSpans"]:
                            for x in ss["spans"]:
                                if any(at["key"] == "difftrace.reconstructed" for at in x["attributes"]):
                                    key = (x["traceId"], x["spanId"])
                                    check(key not in exported, f"rebuilt span {key} exported twice")
                                    exported[key] = (int(x["startTimeUnixNano"]), int(x["endTimeUnixNano"]), comp,
                                                     x["name"], x["kind"])
            read = {(s["trace_id"], s["span_id"]): (s["start_ns"], s["end_ns"], s["component"], s["operation"],
                                                    s["span_kind"]) for s in spans if s["reconstructed"]}
            check(exported == read, f"export vs read: {len(set(exported.items()) ^ set(read.items()))} rebuilt spans "
                  f"differ ({len(exported)} exported, {len(read)} read)")
            # determinism: the same bytes on a second read
            check(run(b, "dump", "--db", db).stdout == run(b, "dump", "--db", db).stdout, "two dumps differ")
            st = ok_json(b, "stats", "--db", db, "--json")
            check(st["spans"] == len(spans) and st["traces"] == len(all_t)
                  and st["reconstructed"] == sum(s["reconstructed"] for s in spans), f"stats {st}")
            check(sum(c["spans"] for c in st["components"]) == st["spans"], "component rows do not add up")
            t0 = all_t[0]
            sh = ok_json(b, "show", "--db", db, t0["trace_id"], "--json")
            check(sh["spans_total"] == t0["spans"] and len(sh["spans"]) == t0["spans"]
                  and sh["reconstructed"] == t0["reconstructed"], f"show {sh['spans_total']} vs traces {t0}")
            # filters, against the unfiltered list
            err = ok_json(b, "traces", "--db", db, "--json", "--errors", "--limit", "100000")
            check(err and err == [t for t in all_t if t["error"]], f"--errors: {len(err)} traces")
            svc = "activator"  # a platform component: mostly rebuilt, so the filter must see rebuilt spans
            sv = ok_json(b, "traces", "--db", db, "--json", "--service", svc, "--limit", "100000")
            check(sv and sv == [t for t in all_t if svc in t["components"]], f"--service: {len(sv)} traces")
            durs = sorted(t["duration_ns"] for t in all_t)
            cut = durs[len(durs) // 2]
            md = ok_json(b, "traces", "--db", db, "--json", "--min-duration", f"{cut}ns", "--limit", "100000")
            check(md == [t for t in all_t if t["duration_ns"] >= cut], f"--min-duration: {len(md)} traces")
            check(ok_json(b, "traces", "--db", db, "--json", "--since", "1h", "--limit", "100000") == all_t,
                  "--since 1h dropped traces")
            check(ok_json(b, "traces", "--db", db, "--json", "--since", "2100-01-01T00:00:00Z") == [],
                  "--since in the future kept traces")
            check(len(ok_json(b, "traces", "--db", db, "--json", "--limit", "3")) == 3, "--limit 3")
            # exit codes and messages
            codes = {
                ("show", "--db", db, "0" * 32): 3,
                ("show", "--db", db, "xyz"): 2,
                ("traces", "--db", db, "--min-duration", "5"): 2,
                ("traces", "--db", db, "--since", "yesterday"): 2,
                ("traces", "--db", db, "--bogus"): 2,
                ("traces",): 2,
                ("traces", "--db", p.path("missing.db")): 1,
                ("traces", "--db", p.path("truth.jsonl")): 1,
                ("stats", "--db", db): 0,
            }
            for args, want in codes.items():
                r = run(b, *args)
                check(r.returncode == want, f"difftrace {' '.join(args)}: exit {r.returncode}, want {want}")
                check(want == 0 or r.stderr.startswith("difftrace: "), f"{args}: stderr {r.stderr!r}")
            print(f"PASS cli: {len(all_t)} traces, {len(spans)} spans ({st['reconstructed']} rebuilt), "
                  f"--errors {len(err)}, --service {len(sv)}, --min-duration {len(md)}, exit codes")
    except (Failure, HarnessError) as e:
        print(f"FAIL cli: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
