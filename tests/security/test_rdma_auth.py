#!/usr/bin/env python3
"""The RDMA transport's handshake (dft/rdma_auth.h) against the real daemons, one per --probe.

rdma_handshake and rdma_fake_collector need an RDMA device: they run inside the Soft-RoCE VM
(tests/rxe/rdma_auth.sh, --host the rxe address). rdma_key_perms needs none (the checks come before
any device is opened) and runs on the host. Conditions are polled with generous bounds; the
outcomes checked never depend on a sleep being long enough.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from dft_harness import Pipeline, check, make_rdma_keys, read_json, run_checked  # noqa: E402
from test_security import NIC_SENDER, NIC_SENDER_HEX, collector_stats, wait_until, well_behaved_run  # noqa: E402

# the proof is due within the collector's read timeout: short here, so "silent" does not take 10 s
READ_TIMEOUT_MS = 4000
PEER_CASES = ("noauth", "unknown", "wrong-key", "batch-first", "replay", "silent", "flood")


def peer(p, bindir, case, key=None):
    cmd = [os.path.join(bindir, "rdma_auth_peer"), "--collector", f"{p.host}:{p.port}", "--sender", NIC_SENDER_HEX,
           "--case", case] + (["--key", key] if key else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    print(r.stdout.strip())
    check(r.returncode == 0, f"rdma_auth_peer --case {case}: exit {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}")


def probe_rdma_handshake(p, app, bindir):
    """Every way to get in without the key is refused before the first credit and counted; a NIC with
    the right key (whose id every attempt used) then stores all its spans."""
    p.start_collector()
    for case in PEER_CASES:
        # replay and flood make one honest handshake each: they hold the NIC's key
        peer(p, bindir, case, key=p.rdma_keys["nic_key"] if case in ("replay", "flood") else None)
    # the silent connections are gone (the peer saw each dropped); the counters say how
    col = wait_until(lambda: (lambda s: s if s.get("rdma_auth_timed_out", 0) + s.get("rdma_auth_evicted", 0) >= 17
                              else None)(collector_stats(p)), 60, "17 silent connections counted")
    check(col["rdma_auth_no_key"] == 2, f"noauth + unknown: rdma_auth_no_key {col['rdma_auth_no_key']}, want 2")
    check(col["rdma_auth_bad_proof"] == 3,
          f"wrong-key + batch-first + replay: rdma_auth_bad_proof {col['rdma_auth_bad_proof']}, want 3")
    check(col["rdma_auth_timed_out"] + col["rdma_auth_evicted"] == 17,
          f"silent + flood: timed out {col['rdma_auth_timed_out']} + evicted {col['rdma_auth_evicted']}, want 17")
    check(col["rdma_auth_ok"] == 2, f"the two honest handshakes: rdma_auth_ok {col['rdma_auth_ok']}, want 2")
    check(col["rdma_batches"] == 0 and col["frames"] == 0, f"a batch got in before any NIC ran: {col}")
    # the real NIC is not locked out by any of it
    p.start_nic()
    nic, col = well_behaved_run(p, app)
    p.stop_collector()
    col = read_json(p.collector_stats)
    check(col["rdma_auth_ok"] >= 3 and col["rdma_bad_slots"] == 0, f"the NIC's handshake: {col}")
    return (f"refused: no key {col['rdma_auth_no_key']}, bad proof {col['rdma_auth_bad_proof']}, timed out "
            f"{col['rdma_auth_timed_out']}, evicted {col['rdma_auth_evicted']}; then the NIC stored all "
            f"{nic['reported']} spans it reported")


def probe_rdma_fake_collector(p, app, bindir):
    """A collector that does not hold the NIC's key (here: one run --insecure, proving nothing) gets
    no batch: the NIC checks the welcome's proof before it writes anything."""
    p.collector_args.append("--insecure")
    p.tls_collector_args = lambda: []  # this collector holds no keys; the NIC still has its own
    p.start_collector()
    p.start_nic()
    log = p.path("nic.log")
    wait_until(lambda: "could not prove this sender's key" in open(log).read(), 60, "the NIC refused the collector")
    p.run_app([app, "--manifest", p.path("app.manifest.jsonl"), "--component", "victim", "--threads", "1",
               "--traces", "20", "--seed", "7"])
    p.stop_nic()
    p.stop_collector()
    col = read_json(p.collector_stats)
    nic = read_json(p.nic_stats)
    check(col["rdma_accepted"] >= 1, f"the NIC never reached the collector: {col}")
    check(col["rdma_batches"] == 0 and col["batches_accepted"] == 0, f"a batch went to a collector without the key: {col}")
    check(nic["reported"] == 0 and nic["produced"] > 0, f"NIC: {nic}")
    return (f"{col['rdma_accepted']} connections accepted by the keyless collector, 0 batches written to it; "
            f"the NIC's {nic['produced']} spans counted (none reported)")


def probe_rdma_key_perms(p, app, bindir):
    """Key files readable by others are refused at start on both sides; a collector with neither keys
    nor --insecure does not start; --insecure warns."""
    col = os.path.join(bindir, "difftrace-collector")
    nicx = os.path.join(bindir, "difftrace-nic")
    keys = make_rdma_keys(p.path("perm"), NIC_SENDER_HEX)
    kfile = os.path.join(keys["keys"], NIC_SENDER_HEX)
    base = [col, "--transport", "rdma", "--listen", "127.0.0.1:0", "--db", p.db]
    os.chmod(kfile, 0o644)
    r = subprocess.run(base + ["--rdma-keys", keys["keys"]], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "too open" in r.stderr and kfile in r.stderr,
          f"collector with a 0644 key file: exit {r.returncode}, {r.stderr.strip()}")
    r = subprocess.run(base, capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "--rdma-keys" in r.stderr and "--insecure" in r.stderr,
          f"collector without keys: exit {r.returncode}, {r.stderr.strip()}")
    r = subprocess.run(base + ["--insecure"], capture_output=True, text=True, timeout=30)
    check("WARNING" in r.stderr and "RDMA senders are not authenticated" in r.stderr,
          f"--insecure without a warning: {r.stderr.strip()}")
    os.chmod(keys["nic_key"], 0o640)
    r = subprocess.run([nicx, "--no-huge", "--no-pci", "-m", "256", "-l", "0", f"--file-prefix={p.prefix}k",
                        "--log-level=*:error", "--", "--transport", "rdma", "--socket", p.path("k.sock"),
                        "--collector", "127.0.0.1:9", "--sender-id", NIC_SENDER_HEX, "--rdma-key", keys["nic_key"]],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "too open" in r.stderr and keys["nic_key"] in r.stderr,
          f"NIC with a 0640 key file: exit {r.returncode}, {r.stderr.strip()}")
    return "0644 collector key and 0640 NIC key refused at start, no keys refused, --insecure warns"


PROBES = {
    "rdma_handshake": probe_rdma_handshake,
    "rdma_fake_collector": probe_rdma_fake_collector,
    "rdma_key_perms": probe_rdma_key_perms,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--probe", required=True, choices=sorted(PROBES))
    ap.add_argument("--host", default="127.0.0.1", help="the RDMA device's address (inside the VM)")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.bindir, "rdma_auth_peer")):
        print(f"SKIP security_{a.probe}: this build has no RDMA transport")
        return 77
    app = os.path.join(a.bindir, "dft_testapp")
    with Pipeline(a.bindir, transport="rdma", host=a.host, nic_args=["--sender-id", NIC_SENDER_HEX],
                  collector_args=["--read-timeout-ms", str(READ_TIMEOUT_MS)]) as p:
        return run_checked(p, f"security_{a.probe}", PROBES[a.probe], app, a.bindir)


if __name__ == "__main__":
    sys.exit(main())
