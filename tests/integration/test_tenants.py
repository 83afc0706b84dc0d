#!/usr/bin/env python3
"""Tenants on the NIC: a flooder beside a modest tenant.

Two processes register with one difftrace-nic: `flooder` (2 threads ending function spans as fast as
the library takes them, small rings) and `modest` (1 thread, 2000 spans/s). The NIC's config puts
them in tenants of their own: the flooder with weight 1, a 20 000 spans/s quota and a quarter of
the backlog, the modest one with weight 4. Asserted from the NIC's own per-tenant accounting (stats
JSON) and the store:
  - the modest tenant's every span is reported and stored (0 lost of any kind);
  - the flooder's losses are counted, against the flooder only (lost_ring_full on its own hosts);
  - per tenant produced = reported + filtered + lost_*, in_flight 0 after the stop;
  - the tenants' produced add up to the NIC-wide produced, and nothing lands in "default".
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys

from dft_harness import Failure, HarnessError, Pipeline, check

CONFIG = """
[tenant.flood]
components = flooder
weight = 1
max_spans_per_s = 20000
backlog_share_pct = 25

[tenant.steady]
components = modest
weight = 4
"""
LOSSES = ("lost_ring_full", "lost_no_ring", "lost_invalid", "lost_hold_overflow", "lost_backlog_full",
          "lost_transport")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    a = ap.parse_args()
    app = os.path.join(a.bindir, "dft_tenantapp")
    try:
        with Pipeline(a.bindir) as p:
            cfg = p.path("tenants.ini")
            with open(cfg, "w") as f:
                f.write(CONFIG)
            p.nic_args += ["--config", cfg]
            p.start()
            env = p.app_env()
            flood = subprocess.Popen([app, "--component", "flooder", "--threads", "2", "--seconds", "4",
                                      "--ring-slots", "256"], env=env, stdout=subprocess.PIPE, text=True)
            modest = subprocess.Popen([app, "--component", "modest", "--threads", "1", "--seconds", "4",
                                       "--rate", "2000"], env=env, stdout=subprocess.PIPE, text=True)
            fo, _ = flood.communicate(timeout=120)
            mo, _ = modest.communicate(timeout=120)
            check(flood.returncode == 0 and modest.returncode == 0, "the tenant apps exited 0")
            fapp, mapp = json.loads(fo.strip().splitlines()[-1]), json.loads(mo.strip().splitlines()[-1])
            p.stop()
            with open(p.nic_stats) as f:
                nic = json.load(f)
            ten = nic.get("tenants", {})
            check(set(ten) == {"default", "flood", "steady"}, f"tenants in the stats: {sorted(ten)}")
            fl, st = ten["flood"], ten["steady"]
            check(st["produced"] == mapp["produced"] > 0,
                  f"modest tenant produced {st['produced']}, its app {mapp['produced']}")
            check(all(st[k] == 0 for k in LOSSES), f"modest tenant lost nothing: {st}")
            check(st["reported"] == st["produced"], f"modest tenant: every span reported ({st})")
            check(fl["produced"] == fapp["produced"], f"flood produced {fl['produced']}, its app {fapp['produced']}")
            check(fl["lost_ring_full"] == fapp["dropped_full"] > 0,
                  f"the flood's drops are its own: lost_ring_full {fl['lost_ring_full']}, app {fapp['dropped_full']}")
            for name, t in ten.items():
                out = t["reported"] + t["filtered"] + sum(t[k] for k in LOSSES)
                check(t["produced"] == out and t["in_flight"] == 0,
                      f"tenant {name}: produced {t['produced']} = reported + filtered + lost {out}, "
                      f"in_flight {t['in_flight']}")
            check(ten["default"]["produced"] == 0, "nothing in the default tenant")
            check(nic["produced"] == fl["produced"] + st["produced"],
                  f"NIC-wide produced {nic['produced']} = the tenants' sum")
            db = sqlite3.connect(p.db)
            rows = db.execute("select count(*) from spans where component = 'modest' and reconstructed = 0").fetchone()[0]
            check(rows == mapp["produced"], f"store holds {rows} spans of the modest tenant, it produced {mapp['produced']}")
            print(f"PASS tenants: modest {st['produced']} produced, all stored; flood {fl['produced']} produced, "
                  f"{fl['lost_ring_full']} dropped on its own rings, {fl['deferred']} deferrals; identity exact per tenant")
    except (Failure, HarnessError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
