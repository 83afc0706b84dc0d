#!/usr/bin/env python3
"""difftrace-nic against a collector that is not there: every failed connect is counted
(connect_failures in /difftrace/stats), the failure is logged under the difftrace.tx log type with
what failed, and the log is rate-limited (one line per 10 s with the count held back), so an outage
of hours neither floods the log nor passes in silence. The log type answers EAL's --log-level:
at difftrace.tx:error the same failures leave no line.
"""
import argparse
import os
import socket
import sys
import time

from dft_harness import Failure, HarnessError, Pipeline, check


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def run(bindir, level):
    with Pipeline(bindir, lcores="0", eal_args=[f"--log-level=difftrace.tx:{level}"]) as p:
        p.port = closed_port()
        p.start_nic()
        deadline = time.monotonic() + 20
        fails = 0
        while time.monotonic() < deadline:
            fails = p.nic_telemetry().get("connect_failures", 0)
            if fails >= 5:
                break
            time.sleep(0.1)
        p.stop_nic()
        with open(p.path("nic.log")) as f:
            log = f.read()
    return p.port, fails, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    a = ap.parse_args()
    try:
        port, fails, log = run(a.bindir, "warning")
        check(fails >= 5, f"connect_failures {fails} after 20 s against a closed port (want >= 5)")
        lines = [l for l in log.splitlines() if f"collector 127.0.0.1:{port}" in l]
        check(len(lines) == 1, f"{len(lines)} log lines about the collector (want 1, rate-limited): {lines}")
        check("connect" in lines[0] and "refused" in lines[0].lower(),
              f"the line says what failed: {lines[0]!r}")
        port, fails, log = run(a.bindir, "error")
        check(fails >= 5, f"at difftrace.tx:error still counted: connect_failures {fails}")
        check(f"127.0.0.1:{port}" not in log, f"at difftrace.tx:error no warning is logged: {log!r}")
    except (Failure, HarnessError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("ok: connect failures counted, logged once per 10 s, under difftrace.tx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
