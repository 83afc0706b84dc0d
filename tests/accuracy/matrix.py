#!/usr/bin/env python3
"""The evaluation matrix: difftrace against tests/accuracy/workload.py recordings.

For each cell (per-call anomaly rate x duration shape x replay speed) a recording is synthesized
(cached by its parameters), real difftrace-collector and difftrace-nic are started on loopback in a
temporary directory (unique DPDK --file-prefix, ephemeral port), the recording is replayed with
difftrace-replay --threads 1 --speed 1 (the recorded pace) or --speed 0 (as fast as the daemons
drain, same order), the daemons are stopped and the store is compared with the truth.

Per cell:
  recall per kind    spans of that kind stored verbatim by the NIC (reconstructed = 0, same ids,
                     parent, start, end) / spans of that kind. Kinds: error, queueing, cold_start,
                     function_error; outlier = platform spans that are latency outliers by the
                     definition (own time >= 10x the key's median, after the key's 20th span;
                     function spans are kept by the function rule and left out); delay = the
                     injected delayed hops, counted also before their key's 20th span
  normal_kept        platform spans of normal traces (no span of any kind) reported / all of them
  all_normal_kept    platform spans with no kind reported / all of them (includes the whole
                     anomalous traces the hold window keeps)
  completeness       `difftrace eval` trace_completeness (reported + reconstructed = every span)
  accounting_ok      `difftrace eval` accounting_ok
Goals (issue 10): every recall 1.0, normal_kept <= 1 %, completeness 1.0, accounting exact.
--assert-goals exits 1 when a cell misses one; the exit code is 0 otherwise (it measures).
Exit 77: a binary is missing.
"""
import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from dft_harness import HarnessError, Pipeline  # noqa: E402

RATES = (0.001, 0.005, 0.01, 0.02, 0.05)
SHAPES = ("lognormal", "pareto", "bimodal")
KIND_COLS = ("error", "queueing", "cold_start", "function_error", "outlier", "delay")
# outliers by the definition that carry no other kind's label (in the JSON, not the table)
EXTRA_KINDS = ("outlier_only",)
NORMAL_KEPT_GOAL = 0.01
BINARIES = ("difftrace-collector", "difftrace-nic", "difftrace-replay", "difftrace")


def cells_for(name):
    """(rate, shape, speed) cells of a named cut."""
    if name == "full":
        return [(r, s, sp) for sp in (0, 1) for r in RATES for s in SHAPES]
    if name == "default":
        # every rate x shape as fast as possible; at the recorded pace each rate once, the shapes in turn
        fast = [(r, s, 0) for r in RATES for s in SHAPES]
        real = [(r, SHAPES[i % 3], 1) for i, r in enumerate(RATES)]
        return fast + real
    if name == "quick":
        return [(0.02, "lognormal", 0), (0.005, "pareto", 0)]
    raise SystemExit(f"unknown --cells {name}")


def cell_name(rate, shape, speed):
    return f"r{rate * 100:g}pct-{shape}-{'realtime' if speed == 1 else 'fast' if speed == 0 else f'x{speed:g}'}"


def default_lcores():
    return str(sorted(os.sched_getaffinity(0))[-1])


def recording(cache, rate, shape, seconds, rps, seed):
    """(otlp, truth, meta) for the parameters, synthesized once per version of workload.py."""
    with open(os.path.join(HERE, "workload.py"), "rb") as f:
        version = hashlib.sha256(f.read()).hexdigest()[:8]
    base = os.path.join(cache, f"w-r{rate:g}-{shape}-s{seconds:g}-rps{rps:g}-seed{seed}-{version}")
    otlp, truth, meta = base + ".otlp.jsonl", base + ".truth.jsonl", base + ".meta.json"
    if not os.path.exists(meta):
        subprocess.run([sys.executable, os.path.join(HERE, "workload.py"), "--seed", str(seed), "--shape", shape,
                        "--anomaly-rate", str(rate), "--seconds", str(seconds), "--rps", str(rps),
                        "--otlp", otlp + ".tmp", "--truth", truth, "--meta", meta + ".tmp"],
                       check=True, stdout=subprocess.DEVNULL)
        os.replace(otlp + ".tmp", otlp)
        os.replace(meta + ".tmp", meta)
    with open(meta) as f:
        return otlp, truth, json.load(f)


def wait_drained(p, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = p.nic_telemetry()
        except (OSError, ValueError):
            st = None
        if st and st.get("in_flight", 1) == 0:
            return True
        time.sleep(0.1)
    return False


def replay_into(p, otlp, speed, timeout):
    """Replays the recording through the running pipeline; the replay's summary."""
    r = subprocess.run([os.path.join(p.bindir, "difftrace-replay"), "--in", otlp, "--threads", "1",
                        "--speed", str(speed), "--batch-lines", "1000000", "--fini-ms", "30000"],
                       env=p.app_env(), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise HarnessError(f"difftrace-replay exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def stored_rows(bindir, db):
    """Every span readers see (`difftrace dump`): reported rows and spans rebuilt from the stored hops."""
    r = subprocess.run([os.path.join(bindir, "difftrace"), "dump", "--db", db], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"difftrace dump exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    out = {}
    for line in r.stdout.splitlines():
        d = json.loads(line)
        key = (d["trace_id"], d["span_id"])
        prev = out.get(key)
        if prev is not None and not prev[3]:
            continue  # a reported copy wins
        out[key] = (d["parent_span_id"], d["start_ns"], d["end_ns"], int(d["reconstructed"]), d["keep_reasons"])
    return out


def score(truth, stored):
    """Per-kind recall, normal platform spans kept, from the truth file and the store."""
    total = {k: 0 for k in KIND_COLS + EXTRA_KINDS}
    kept = {k: 0 for k in KIND_COLS + EXTRA_KINDS}
    missed = {k: [] for k in KIND_COLS + EXTRA_KINDS}
    traces_anomalous = set()
    plat = []  # (trace, labelled, reported)
    with open(truth) as f:
        for line in f:
            s = json.loads(line)
            key = (s["trace_id"], s["span_id"])
            got = stored.get(key)
            reported = got is not None and not got[3]
            verbatim = reported and got[0] == s["parent_span_id"] and got[1] == s["start_ns"] \
                and got[2] == s["end_ns"]
            kinds = set(s["kinds"])
            if kinds:
                traces_anomalous.add(s["trace_id"])
            if "outlier" in kinds and kinds <= {"outlier", "delay"}:
                kinds = kinds | {"outlier_only"}
            for k in kinds:
                if k in ("outlier", "outlier_only") and s["kind"] != "platform":
                    continue
                total[k] += 1
                kept[k] += verbatim
                if not verbatim and len(missed[k]) < 5:
                    missed[k].append(f"{s['component']}/{s['operation']} {s['span_id']} own {s['self_ns']} ns")
            if s["kind"] == "platform":
                plat.append((s["trace_id"], bool(kinds), reported))
    n_norm = sum(1 for t, lab, _ in plat if t not in traces_anomalous)
    k_norm = sum(1 for t, lab, rep in plat if t not in traces_anomalous and rep)
    n_all = sum(1 for _, lab, _ in plat if not lab)
    k_all = sum(1 for _, lab, rep in plat if not lab and rep)
    return {"kinds": {k: {"total": total[k], "kept": kept[k],
                          "recall": round(kept[k] / total[k], 6) if total[k] else None,
                          "missed_examples": missed[k]} for k in KIND_COLS + EXTRA_KINDS},
            "normal_platform_spans": n_norm, "normal_platform_kept": k_norm,
            "normal_kept": round(k_norm / n_norm, 6) if n_norm else None,
            "all_normal_platform_spans": n_all, "all_normal_platform_kept": k_all,
            "all_normal_kept": round(k_all / n_all, 6) if n_all else None,
            "anomalous_traces": len(traces_anomalous)}


def goals(c):
    """The goals a cell misses, as text."""
    out = []
    for k in KIND_COLS:
        if k == "delay":
            continue  # delays before a key's 20th span are outside the definition
        v = c["kinds"][k]
        if v["total"] and v["kept"] != v["total"]:
            out.append(f"{k} recall {v['kept']}/{v['total']} (missed e.g. {v['missed_examples'][:2]})")
    if c["normal_kept"] is not None and c["normal_kept"] > NORMAL_KEPT_GOAL:
        out.append(f"normal traces' platform spans kept {c['normal_kept']:.4f} > {NORMAL_KEPT_GOAL}")
    if c["completeness"] != 1.0:
        out.append(f"trace completeness {c['completeness']}")
    if not c["accounting_ok"]:
        out.append("accounting identity broken")
    return out


NIC_COUNTERS = ("produced", "reported", "filtered", "kept_function", "kept_error", "kept_cold_start",
                "kept_queueing", "kept_outlier", "kept_retro", "hold_timeouts", "hold_root_drops")


def run_cell(a, rate, shape, speed, cache):
    otlp, truth, meta = recording(cache, rate, shape, a.seconds, a.rps, a.seed)
    name = cell_name(rate, shape, speed)
    work = tempfile.mkdtemp(prefix=f"dft-acc-{name}-")
    t0 = time.monotonic()
    with Pipeline(a.bindir, workdir=work, lcores=a.lcores, keep=a.keep,
                  nic_args=a.nic_arg, collector_args=["--recon-delay-ms", str(a.recon_delay_ms)]) as p:
        try:
            p.start()
            rep = replay_into(p, otlp, speed, timeout=a.seconds * 4 / max(speed, 1e-9) + 300 if speed else 600)
            if not wait_drained(p, 120):
                raise HarnessError("difftrace-nic still holds spans after 120 s")
            p.stop()
            r = subprocess.run([os.path.join(a.bindir, "difftrace"), "eval", "--truth", truth, "--db", p.db,
                                "--nic-stats", p.nic_stats, "--json"], capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise HarnessError(f"difftrace eval exited {r.returncode}: {r.stderr.strip()}")
            ev = json.loads(r.stdout)
            with open(p.nic_stats) as f:
                nic = json.load(f)
            c = score(truth, stored_rows(a.bindir, p.db))
        except BaseException:
            p.keep = True
            print(f"matrix: cell {name} failed; work dir kept: {work}", file=sys.stderr)
            raise
    c.update({"cell": name, "anomaly_rate": rate, "shape": shape, "speed": speed,
              "recording": {k: meta[k] for k in ("spans", "platform_spans", "requests", "calls", "keys",
                                                 "keys_under_20_spans", "recorded_ns", "calls_with_kind",
                                                 "first_call_cold_starts", "digest")},
              "completeness": ev["trace_completeness"], "accounting_ok": ev["accounting_ok"],
              "anomalous_recall": ev["anomalous_recall"], "platform_reduction": ev["platform_reduction"],
              "recon_rel_err_median": ev["recon_rel_err_median"], "lost": ev["lost"],
              "nic": {k: nic.get(k) for k in NIC_COUNTERS},
              "replay": {k: rep.get(k) for k in ("spans", "dropped", "hops", "hops_cut", "late", "backoffs", "fini")},
              "seconds": round(time.monotonic() - t0, 1)})
    c["goals_missed"] = goals(c)
    return c


def fmt_recall(v):
    if not v["total"]:
        return "–"
    return f"{v['kept'] / v['total']:.2f} ({v['kept']}/{v['total']})"


def fmt_pct(x):
    return "–" if x is None else f"{100 * x:.2f} %"


def markdown(cells):
    head = ("| rate | shape | replay | error | queueing | cold start | function error | outlier (def.) "
            "| injected delay | normal traces' platform spans kept | all normal platform spans kept "
            "| traces complete | accounting |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in cells:
        lines.append("| {:g} % | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            c["anomaly_rate"] * 100, c["shape"], "real time" if c["speed"] == 1 else "as fast as possible"
            if c["speed"] == 0 else f"x{c['speed']:g}",
            *(fmt_recall(c["kinds"][k]) for k in KIND_COLS), fmt_pct(c["normal_kept"]), fmt_pct(c["all_normal_kept"]),
            "–" if c["completeness"] is None else f"{c['completeness']:.4f}", "exact" if c["accounting_ok"] else "**broken**"))
    return "\n".join(lines) + "\n"


def update_doc(path, table, command, summary):
    with open(path) as f:
        text = f.read()
    begin, end = "<!-- matrix:begin -->", "<!-- matrix:end -->"
    block = f"{begin}\nMade with `{command}` ({summary}):\n\n{table}{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--cells", default="default", help="default | full | quick")
    ap.add_argument("--only", help="comma-separated cell names to run out of the cut")
    ap.add_argument("--seconds", type=float, default=15.0, help="recorded seconds per cell (default 15)")
    ap.add_argument("--rps", type=float, default=100.0, help="requests/s to the hot functions (default 100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="directory for recordings and results (default: a temp dir)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--markdown", help="write the table here")
    ap.add_argument("--update-doc", help="replace the table between the matrix markers of this file")
    ap.add_argument("--lcores", default=default_lcores())
    ap.add_argument("--recon-delay-ms", type=int, default=2000)
    ap.add_argument("--nic-arg", action="append", default=[], help="extra difftrace-nic option (repeatable)")
    ap.add_argument("--assert-goals", action="store_true", help="exit 1 when a cell misses a goal")
    ap.add_argument("--keep", action="store_true", help="keep every cell's work directory")
    a = ap.parse_args()
    for b in BINARIES:
        if not os.access(os.path.join(a.bindir, b), os.X_OK):
            print(f"SKIP: {b} not built in {a.bindir}")
            return 77
    if not os.path.isdir("/var/run/dpdk") and not os.access("/var/run", os.W_OK):
        print("SKIP: no DPDK runtime directory (/var/run/dpdk)")
        return 77
    cells = cells_for(a.cells)
    if a.only:
        want = set(a.only.split(","))
        cells = [c for c in cells if cell_name(*c) in want]
    out = a.out or tempfile.mkdtemp(prefix="dft-matrix-")
    os.makedirs(out, exist_ok=True)
    t0 = time.monotonic()
    results = []
    for rate, shape, speed in cells:
        c = run_cell(a, rate, shape, speed, out)
        results.append(c)
        k = c["kinds"]
        print(f"{c['cell']}: " + ", ".join(f"{n} {fmt_recall(k[n])}" for n in KIND_COLS + EXTRA_KINDS)
              + f", normal kept {fmt_pct(c['normal_kept'])}, complete {c['completeness']}, "
              f"accounting {'exact' if c['accounting_ok'] else 'BROKEN'} ({c['seconds']} s)", flush=True)
    elapsed = time.monotonic() - t0
    command = "scripts/eval-matrix.sh" + ("" if a.cells == "default" else f" --cells {a.cells}") + \
        (f" --seconds {a.seconds:g}" if a.seconds != 15.0 else "") + (f" --seed {a.seed}" if a.seed != 1 else "")
    table = markdown(results)
    doc = {"command": command, "argv": " ".join(shlex.quote(x) for x in sys.argv), "seconds": round(elapsed, 1),
           "cells": results}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    if a.update_doc:
        nfast = sum(1 for c in results if c["speed"] == 0)
        update_doc(a.update_doc, table, command,
                   f"{len(results)} cells: {nfast} as fast as possible, {len(results) - nfast} at the recorded pace; "
                   f"{a.seconds:g} s recorded per cell, {a.rps:g} requests/s to the hot functions, seed {a.seed}; "
                   f"{elapsed / 60:.1f} min on the 2-vCPU development VM")
    print(table)
    if not a.out:
        shutil.rmtree(out, ignore_errors=True)
    missed = [(c["cell"], g) for c in results for g in c["goals_missed"]]
    for cell, g in missed:
        print(f"GOAL MISSED {cell}: {g}", file=sys.stderr)
    return 1 if a.assert_goals and missed else 0


if __name__ == "__main__":
    sys.exit(main())
