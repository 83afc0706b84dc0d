#!/usr/bin/env python3
"""Soak: difftrace-nic and difftrace-collector under mixed tenants with faults on a schedule.

Tenants (one dft_tenantapp process each, for the whole run):
  steady   2 threads x 2000 spans/s, weight 4, rings of 16384 slots (8 s of its spans: a NIC restart
           fits)
  flood    2 threads x 40000 spans/s, 256-slot rings,    quota 20000 spans/s, a quarter of the backlog
  bad      1 thread x 1000 spans/s, scribbling over its own rings
Every 60 s cycle: at 15 s the NIC is SIGKILLed and restarted (a new epoch), at 30 s the collector
is SIGKILLed and restarted, from 45 s its store fails every commit for 5 s (DFT_FAULT_STORE_FULL).
At the end both daemons stop cleanly; printed: per tenant the last NIC instance's identity, per
epoch the collector's accounts (difftrace stats --json), the steady tenant's spans stored against
what its app produced, and each daemon's peak resident memory (VmHWM, the highest of its
instances, sampled before every kill and at the end).
"""
import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from dft_harness import Pipeline  # noqa: E402

LOSSES = ("lost_ring_full", "lost_no_ring", "lost_invalid", "lost_hold_overflow", "lost_backlog_full",
          "lost_transport")
CONFIG = """
[tenant.steady]
components = steady
weight = 4

[tenant.flood]
components = flooder
weight = 1
max_spans_per_s = 20000
backlog_share_pct = 25

[tenant.bad]
components = scribbler
weight = 1
"""


def hwm_kb(proc):
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    a = ap.parse_args()
    secs = int(a.minutes * 60)
    app = os.path.join(a.bindir, "dft_tenantapp")
    peak = {"nic": 0, "collector": 0}
    events = {"nic_kills": 0, "collector_kills": 0, "disk_full_s": 0}
    t_start = time.monotonic()
    with Pipeline(a.bindir, nic_args=["--sender-id", "50a4c0ffee000001"]) as p:
        flag = p.path("disk-full")
        os.environ["DFT_FAULT_STORE_FULL"] = flag
        cfg = p.path("tenants.ini")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        p.nic_args += ["--config", cfg]
        p.start()
        env = p.app_env()
        specs = {"steady": ["--threads", "2", "--rate", "2000", "--ring-slots", "16384"],
                 "flooder": ["--threads", "2", "--rate", "40000", "--ring-slots", "256"],
                 "scribbler": ["--threads", "1", "--rate", "1000", "--scribble"]}
        apps = {k: subprocess.Popen([app, "--component", k, "--seconds", str(secs)] + v, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for k, v in specs.items()}

        def sample():
            if p.nic:
                peak["nic"] = max(peak["nic"], hwm_kb(p.nic))
            if p.collector:
                peak["collector"] = max(peak["collector"], hwm_kb(p.collector))

        t0 = time.monotonic()
        cycle = 0
        while time.monotonic() - t0 < secs - 20:
            base = t0 + cycle * 60
            for at, what in ((15, "nic"), (30, "collector"), (45, "disk")):
                while time.monotonic() < base + at:
                    time.sleep(0.2)
                    sample()
                if time.monotonic() - t0 >= secs - 20:
                    break
                sample()
                if what == "nic":
                    p.nic.send_signal(signal.SIGKILL)
                    p.nic.wait()
                    p.nic = None
                    time.sleep(0.5)
                    p.start_nic()
                    events["nic_kills"] += 1
                elif what == "collector":
                    p.collector.send_signal(signal.SIGKILL)
                    p.collector.wait()
                    p.collector = None
                    time.sleep(0.5)
                    p.start_collector()
                    events["collector_kills"] += 1
                else:
                    open(flag, "w").close()
                    time.sleep(5)
                    os.remove(flag)
                    events["disk_full_s"] += 5
            cycle += 1
        res = {}
        for k, pr in apps.items():
            out, _ = pr.communicate(timeout=secs + 120)
            lines = out.strip().splitlines()
            res[k] = json.loads(lines[-1]) if lines else {}
        sample()
        p.stop()
        with open(p.nic_stats) as f:
            nic = json.load(f)
        st = json.loads(subprocess.run([os.path.join(a.bindir, "difftrace"), "stats", "--db", p.db, "--json"],
                                       capture_output=True, text=True, check=True).stdout)
        with open(p.collector_stats) as f:
            col = json.load(f)
        con = sqlite3.connect(p.db)
        stored_by = dict(con.execute("SELECT component, count(*) FROM spans WHERE reconstructed = 0"
                                     " GROUP BY component").fetchall())
        con.close()

    wall = time.monotonic() - t_start
    print(f"soak: {wall / 60:.1f} min; faults: {events['nic_kills']} NIC SIGKILLs, "
          f"{events['collector_kills']} collector SIGKILLs, {events['disk_full_s']} s of failing commits "
          f"({col['storage_failures']} failed rounds in the last collector, health now {col['health']})")
    print("\nper tenant (the last NIC instance's own account; the earlier instances' are in the epochs below):")
    print(f"  {'tenant':8} {'produced':>12} {'reported':>10} {'filtered':>9} {'lost':>12} {'in_flight':>10}  identity"
          f"  (lost by reason)")
    for name, t in nic["tenants"].items():
        lost = sum(t[k] for k in LOSSES)
        ok = t["produced"] == t["reported"] + t["filtered"] + lost and t["in_flight"] == 0
        why = ", ".join(f"{k[5:]} {t[k]}" for k in LOSSES if t[k])
        print(f"  {name:8} {t['produced']:>12} {t['reported']:>10} {t['filtered']:>9} {lost:>12} {t['in_flight']:>10}"
              f"  {'exact' if ok else 'OFF':8}  {why}")
    print("\nper NIC epoch (the collector's accounts: produced = stored + filtered + lost + lost_unacked):")
    print(f"  {'epoch':16} {'state':6} {'produced':>10} {'stored':>10} {'lost':>10} {'lost_unacked':>12} "
          f"{'adopted':>8}  identity")
    for e in st.get("epochs", []):
        ok = e["unsettled"] == 0
        print(f"  {e['epoch']:16} {'closed' if e['closed'] else 'open':6} {e['produced']:>10} {e['stored']:>10} "
              f"{e['lost']:>10} {e['lost_unacked']:>12} {e['adopted']:>8}  {'exact' if ok else 'OFF'}")
    made = {k: r.get("produced", 0) for k, r in res.items()}
    print("\napps (host-side counts) against the store:")
    for k, n in made.items():
        print(f"  {k:9} produced {n:>10}, stored {stored_by.get(k, 0):>10}, dropped on full rings "
              f"{res[k].get('dropped_full', 0):>10}")
    print(f"\npeak memory (VmHWM, highest instance): difftrace-nic {peak['nic'] / 1024:.1f} MiB, "
          f"difftrace-collector {peak['collector'] / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
