#!/usr/bin/env python3
"""Integration: libdifftrace test apps -> difftrace-nic (DPDK EAL, --no-huge) -> difftrace-collector
over TCP on loopback -> SQLite + OTLP JSON. Asserts the exact accounting identity and that every span
the filter keeps arrives verbatim in both outputs.

Scenarios:
  exact      daemons up first; two app processes; nothing may be lost.
  late       the app starts before the NIC daemon with tiny rings: spans are dropped (ring full) and
             counted; the library registers once the daemon appears; the identity stays exact.
  collector-restart  the collector is restarted in the middle; the NIC resends what was not
             acknowledged; nothing is lost or stored twice.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dft_harness import LOST_KEYS, Pipeline, accounting, check, run_checked  # noqa: E402

TICK_TOLERANCE_NS = 200_000_000  # tick-converted times vs the app's own clock reads
INGEST = "mmap"
NET_REGIONS = None  # --net-nic: how many regions must have registered over the network
APP_EXTRA = {}      # options every app run gets


def load_manifest(path):
    spans = {}
    with open(path) as f:
        for line in f:
            s = json.loads(line)
            key = (s["trace_id"], s["span_id"])
            check(key not in spans, f"app produced span id {key} twice")
            spans[key] = s
    return spans


def run_app(p, app, name, **kw):
    manifest = p.path(f"{name}.manifest.jsonl")
    args = [app, "--manifest", manifest, "--component", name]
    for k, v in {**APP_EXTRA, **kw}.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    out = p.run_app(args)
    summary = json.loads(out.strip().splitlines()[-1])
    return load_manifest(manifest), summary


KEEP_RETRO = 128
TIMING_REASONS = 16 | 32  # queueing, latency outlier


def expected_kept(manifest):
    """What the filter must keep with its defaults: function spans, error spans, explicitly kept
    spans, and (hold window) every span of a trace that has an error or explicitly kept span."""
    anomalous = {k[0] for k, m in manifest.items() if m["error"] or m["keep"]}
    return {k for k, m in manifest.items() if m["expect_kept"] or k[0] in anomalous}


def check_span(key, m, got, what):
    check(got["parent"] == m["parent_span_id"], f"{what}: {key} parent {got['parent']} != {m['parent_span_id']}")
    check(got["component"] == m["component"], f"{what}: {key} component {got['component']} != {m['component']}")
    check(got["operation"] == m["operation"], f"{what}: {key} operation {got['operation']} != {m['operation']}")
    check(got["status"] == (2 if m["error"] else 0), f"{what}: {key} status {got['status']} (error={m['error']})")
    if m["explicit_ts"]:
        check(got["start_ns"] == m["start_ns"] and got["end_ns"] == m["end_ns"],
              f"{what}: {key} times {got['start_ns']}..{got['end_ns']} != {m['start_ns']}..{m['end_ns']}")
    else:
        check(abs(got["start_ns"] - m["start_ns"]) < TICK_TOLERANCE_NS
              and abs(got["end_ns"] - m["end_ns"]) < TICK_TOLERANCE_NS,
              f"{what}: {key} tick times {got['start_ns']}..{got['end_ns']} far from "
              f"{m['start_ns']}..{m['end_ns']}")
        check(got["end_ns"] >= got["start_ns"], f"{what}: {key} ends before it starts")


def check_outputs(p, manifest, nic, exact):
    """Stored == exported; stored == expected-kept (exact) or a subset of it (with losses)."""
    stored = p.stored_spans()
    exported = p.exported_spans()
    check(set(stored) == set(exported),
          f"SQLite and OTLP differ: {len(set(stored) - set(exported))} only in SQLite, "
          f"{len(set(exported) - set(stored))} only in OTLP")
    for k, s in stored.items():
        e = exported[k]
        check((s["start_ns"], s["end_ns"], s["parent"]) == (e["start_ns"], e["end_ns"], e["parent"]),
              f"span {k}: SQLite {s} != OTLP {e}")
    expected = expected_kept(manifest)
    unexpected = set(stored) - expected
    # timing rules (latency outlier, queueing) may keep a tick-timed span the scheduler slowed down,
    # and the hold window then keeps the rest of its trace: allowed, but only with that reason shown
    timed = {k[0] for k, s in stored.items() if s["keep_reasons"] & TIMING_REASONS}
    unexplained = {k for k in unexpected if k[0] not in timed}
    check(not unexplained, f"{len(unexplained)} stored spans the filter should have dropped, "
          f"e.g. {next(iter(unexplained), None)}: {stored.get(next(iter(unexplained), None))}")
    if exact:
        missing = expected - set(stored)
        check(not missing, f"{len(missing)} kept spans missing from the store, e.g. {next(iter(missing), None)}")
    for k in stored:
        check_span(k, manifest[k], stored[k], "SQLite")
        # an error's status message, from dft_span_set_status_message through the ring, the NIC's
        # check, the batch, the store and the OTLP status.message
        want = manifest[k].get("message", "")
        check(stored[k]["status_message"] == want and exported[k]["status_message"] == want,
              f"span {k}: status message SQLite {stored[k]['status_message']!r} / OTLP "
              f"{exported[k]['status_message']!r}, sent {want!r}")
        check(stored[k]["attrs"].get("app.attempt") == manifest[k]["attempt"], f"span {k}: attrs {stored[k]['attrs']}")
    check(len(stored) == nic["reported"], f"store has {len(stored)} spans, NIC reported {nic['reported']}")
    check(nic["status_msg_invalid"] == 0, f"the NIC refused status messages the library wrote: {nic}")
    with_msg = [k for k in stored if stored[k]["status_message"]]
    check(with_msg, "no stored span carries a status message: the error spans' messages were lost")
    # and the CLI shows it on the span's line
    k = with_msg[0]
    out = subprocess.run([os.path.join(p.bindir, "difftrace"), "show", "--db", p.db, k[0]], capture_output=True,
                         text=True, timeout=60).stdout
    check(f'ERROR "{stored[k]["status_message"]}"' in out, f"difftrace show lacks the status message: {out}")
    p.check_otlp_shape()
    return stored


def check_accounting(p, produced_by_apps, exact):
    """The NIC counted every span the apps produced (which also proves every app registered, possibly
    only while dft_fini waited) and the identity holds, at the NIC and in the collector's view."""
    nic = json.load(open(p.nic_stats))
    col = json.load(open(p.collector_stats))
    produced, total = accounting(nic)
    check(produced == produced_by_apps, f"NIC counted produced={produced}, the apps produced {produced_by_apps}")
    check(produced == total, f"accounting identity broken: produced={produced} != reported+filtered+lost={total} ({nic})")
    check(nic.get("in_flight", 0) == 0, f"in_flight={nic.get('in_flight')} after shutdown")
    if INGEST == "dmadev":
        check(nic["dma_copies"] > 0 and nic["dma_errors"] == 0,
              f"dmadev ingest: {nic['dma_copies']} DMA copies, {nic['dma_errors']} errors")
    if INGEST == "rdma-read":
        # every slot came by RDMA READ and every tail went back by RDMA WRITE, with no failure
        check(nic["rdma_reads"] > 0 and nic["rdma_writes"] > 0 and nic["rdma_errors"] == 0,
              f"rdma-read ingest: {nic['rdma_reads']} READs, {nic['rdma_writes']} WRITEs, {nic['rdma_errors']} errors")
        check(nic["regions_refused"] == 0, f"rdma-read ingest refused {nic['regions_refused']} registrations")
    if NET_REGIONS is not None:
        # every app registered over the network, none through the Unix socket
        check(nic["regions_net"] == NET_REGIONS and nic["regions_attached"] == NET_REGIONS,
              f"network registration: regions_net={nic['regions_net']} regions_attached={nic['regions_attached']}, "
              f"want {NET_REGIONS} each")
    if exact:
        lost = {k: nic[k] for k in LOST_KEYS if nic[k]}
        check(not lost, f"spans lost: {lost}")
    senders = col["senders"]
    stored_total = sum(s["spans_stored"] for s in senders)
    check(stored_total == col["spans_stored"], f"collector per-sender stored {stored_total} != {col['spans_stored']}")
    last = max(senders, key=lambda s: s["max_seq"]) if senders else None
    check(last is not None, "collector saw no sender")
    for k in ("produced", "reported", "filtered") + LOST_KEYS:
        check(last["counters"][k] == nic[k], f"collector's final view of NIC counter {k}={last['counters'][k]} != {nic[k]}")
    return nic, col


def scenario_exact(p, app):
    p.start()
    results = []

    def one(name, seed):
        results.append(run_app(p, app, name, threads=2, traces=400, seed=seed))

    ts = [threading.Thread(target=one, args=(f"app{i}", 11 + i)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(len(results) == 2, "an app run failed")
    manifest = {}
    hops_dropped = 0
    for m, summary in results:
        check(summary["fini"] == 0, f"dft_fini did not drain: {summary}")
        check(summary["dropped_full"] == 0 and summary["dropped_no_ring"] == 0, f"host dropped spans: {summary}")
        hops_dropped += summary["hops_dropped"]
        manifest.update(m)
    # dft_testapp hands every 8th function span a hop the library must cut (2 threads x 400 traces)
    check(hops_dropped == 2 * 2 * 400 // 8, f"the apps cut {hops_dropped} hops, expected {2 * 2 * 400 // 8}")
    # the daemon's live view, through rte_telemetry
    tele = p.nic_telemetry()
    check(tele is not None and tele["produced"] == len(manifest),
          f"telemetry /difftrace/stats produced={tele and tele.get('produced')} != {len(manifest)}")
    p.stop()
    nic, col = check_accounting(p, len(manifest), exact=True)
    # the ring headers' dropped_hops, read into the NIC's accounting (both regions, after retiring them)
    check(nic["hops_dropped"] == hops_dropped, f"NIC hops_dropped={nic['hops_dropped']}, the apps cut {hops_dropped}")
    stored = check_outputs(p, manifest, nic, exact=True)
    check(nic["filtered"] == len(manifest) - len(stored), f"filtered={nic['filtered']} != {len(manifest) - len(stored)}")
    retro = sum(1 for s in stored.values() if s["keep_reasons"] & KEEP_RETRO)
    check(retro > 0 and nic["kept_retro"] == retro,
          f"hold window: {retro} spans stored with the retro reason, NIC kept_retro={nic.get('kept_retro')}")
    return f"{len(manifest)} spans produced, {len(stored)} stored, {nic['filtered']} filtered, 0 lost"


def scenario_late(p, app):
    p.start_collector()
    box = {}
    # the app waits before dft_fini while this file exists: its region stays attached until the
    # row below is seen, however long the daemon takes to start (a TCG VM, a loaded machine)
    hold = p.path("late.hold")
    open(hold, "w").close()

    def one():
        box["r"] = run_app(p, app, "late", threads=2, traces=2500, ring_slots=64, pace_us=1000, seed=7,
                           hold_file=hold)

    t = threading.Thread(target=one)
    t.start()
    time.sleep(1.0)  # the app fills its rings with no daemon to drain them
    p.start_nic()
    # while the app runs, its region has a row of its own: the host's claims as the NIC clamped them
    row = None
    deadline = time.monotonic() + 240
    try:
        while t.is_alive() and row is None and time.monotonic() < deadline:
            regions = p.nic_regions()
            rows = [v for k, v in (regions or {}).items() if k.startswith("region_")]
            if rows and rows[0]["produced"] > 0:
                row = rows[0]
            else:
                time.sleep(0.05)
    finally:
        os.remove(hold)
    t.join()
    check("r" in box, "app run failed")
    manifest, summary = box["r"]
    check(row is not None, "telemetry /difftrace/regions never showed the app's region while it ran")
    check(row["lost_ring_full"] > 0 and row["produced"] >= row["lost_ring_full"]
          and row["hops_dropped"] <= 255 * row["produced"], f"region row {row}")
    check(summary["dropped_full"] > 0, f"expected ring-full drops before the daemon started: {summary}")
    p.stop()
    nic, _ = check_accounting(p, len(manifest), exact=False)
    check(nic["lost_ring_full"] == summary["dropped_full"],
          f"NIC lost_ring_full={nic['lost_ring_full']} != host dropped_full={summary['dropped_full']}")
    stored = check_outputs(p, manifest, nic, exact=False)
    return f"{len(manifest)} produced, {nic['lost_ring_full']} lost (ring full), {len(stored)} stored"


def scenario_collector_restart(p, app):
    p.start()
    box = {}

    def one():
        box["r"] = run_app(p, app, "rst", threads=2, traces=4000, pace_us=300, seed=5)

    t = threading.Thread(target=one)
    t.start()
    time.sleep(1.0)
    p.stop_collector()
    time.sleep(0.5)  # batches pile up in the NIC's backlog
    p.start_collector()
    t.join()
    check("r" in box, "app run failed")
    manifest, summary = box["r"]
    check(summary["fini"] == 0, f"dft_fini did not drain: {summary}")
    p.stop()
    nic, col = check_accounting(p, len(manifest), exact=True)
    stored = check_outputs(p, manifest, nic, exact=True)
    return f"{len(manifest)} produced, {len(stored)} stored across a collector restart, 0 lost, 0 duplicated"


SCENARIOS = {"exact": scenario_exact, "late": scenario_late, "collector-restart": scenario_collector_restart}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    ap.add_argument("--lcores", default="0-1")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--transport", choices=("tcp", "rdma"), default="tcp")
    ap.add_argument("--host", default="127.0.0.1", help="collector address (rdma: the RDMA device's IP)")
    ap.add_argument("--ingest", choices=("mmap", "dmadev", "rdma-read"), default="mmap",
                    help="rdma-read: the daemon listens for the hosts' RDMA connections on --host")
    ap.add_argument("--net-nic", metavar="ADDR:PORT",
                    help="register over the network: the NIC listens there (--net-listen), the apps get "
                         "DFT_NIC and run in a private mount namespace where the NIC's socket directory is "
                         "an empty tmpfs (needs --ingest rdma-read, root)")
    ap.add_argument("--net-bind", metavar="ADDR", help="with --net-nic: the apps' DFT_NIC_BIND")
    a = ap.parse_args()
    global INGEST, NET_REGIONS, APP_EXTRA
    INGEST = a.ingest
    app = os.path.join(a.bindir, "dft_testapp")
    nic_args, eal_args = ["--ingest", a.ingest], []
    if a.ingest == "dmadev":
        eal_args = ["--vdev=dma_skeleton", "--iova-mode=va"]  # a software DMA engine stands in for the DPU's
    elif a.ingest == "rdma-read":
        nic_args += ["--rdma-ingest-bind", f"{a.host}:0"]  # any free port: the registration reply names it
    if a.net_nic:
        check(a.ingest == "rdma-read" and a.scenario in ("exact", "late"),
              "--net-nic goes with --ingest rdma-read and the exact or late scenario")
        nic_args += ["--net-listen", a.net_nic]
        NET_REGIONS = 2 if a.scenario == "exact" else 1
        # dft_fini waits only as long as the rings take to drain; under ASan in a TCG VM the first
        # registration over the network can take longer than the default 10 s
        APP_EXTRA["fini_ms"] = 60000
    with Pipeline(a.bindir, lcores=a.lcores, keep=a.keep, transport=a.transport, host=a.host,
                  nic_args=nic_args, eal_args=eal_args) as p:
        if a.net_nic:
            # the NIC's socket in a directory of its own, which the apps see as an empty tmpfs: no path,
            # no fd passing; only the network joins them
            run = p.path("nic-run")
            os.makedirs(run)
            p.socket = os.path.join(run, "nic.sock")
            p.app_prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount -t tmpfs -o size=64k none "$0" && exec "$@"', run]
            p.app_env_extra = {"DFT_NIC": a.net_nic}
            if a.net_bind:
                p.app_env_extra["DFT_NIC_BIND"] = a.net_bind
        how = f"{a.transport}, {a.ingest}" + (", registered over the network" if a.net_nic else "")
        return run_checked(p, f"{a.scenario} ({how})", SCENARIOS[a.scenario], app)


if __name__ == "__main__":
    sys.exit(main())
