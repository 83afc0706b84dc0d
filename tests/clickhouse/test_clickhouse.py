#!/usr/bin/env python3
"""ClickHouse as difftrace's scale-out store, with real clickhouse-server processes.

Two servers are started from private configs on free loopback ports, as the two shards of the
cluster `difftrace` (no ZooKeeper: unreplicated tables). Then, per scenario:

  pipeline        difftrace-gen -> difftrace-nic -> difftrace-collector --clickhouse (shard 1's node);
                  `difftrace dump/show/traces/stats --clickhouse` read through the other node's
                  Distributed tables give exactly what the same commands give on the collector's
                  SQLite store (rebuilt spans included), both shards hold rows, and eval on the
                  ClickHouse store finds every trace complete.
  two-collectors  two pipelines, each collector writing through a different node; the ClickHouse
                  store read through either node reads exactly as both SQLite stores merged into one.

Exit 77 (skipped) only when clickhouse-server is not installed and scripts/setup-deps.sh
--clickhouse cannot install it.
"""
import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from dft_harness import Failure, HarnessError, Pipeline, check, dump_spans  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def ensure_clickhouse():
    if shutil.which("clickhouse-server"):
        return True
    subprocess.run([os.path.join(ROOT, "scripts", "setup-deps.sh"), "--clickhouse"], capture_output=True)
    return shutil.which("clickhouse-server") is not None


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


CONFIG = """<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <users_config>{dir}/config.xml</users_config>
  <mark_cache_size>268435456</mark_cache_size>
  <profiles><default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
  </default></profiles>
  <quotas><default></default></quotas>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile>
  <quota>default</quota></default></users>
  <remote_servers><difftrace>{shards}</difftrace></remote_servers>
</yandex>
"""


class Cluster:
    def __init__(self, base, n=2):
        self.base = base
        ports = free_ports(2 * n)
        self.http = ports[:n]
        self.tcp = ports[n:]
        self.procs = []
        shards = "".join(f"<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>"
                         for p in self.tcp)
        for i in range(n):
            d = os.path.join(base, f"shard{i + 1}")
            os.makedirs(d)
            with open(os.path.join(d, "config.xml"), "w") as f:
                f.write(CONFIG.format(http=self.http[i], tcp=self.tcp[i], dir=d, shards=shards))
            log = open(os.path.join(d, "server.log"), "w")
            self.procs.append(subprocess.Popen(["clickhouse-server", f"--config-file={d}/config.xml"], cwd=d,
                                               stdout=log, stderr=subprocess.STDOUT))
        for i in range(n):
            self.wait_ready(i)

    def url(self, i):
        return f"http://127.0.0.1:{self.http[i]}"

    def wait_ready(self, i, timeout=60):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.procs[i].poll() is not None:
                raise HarnessError(f"clickhouse-server {i + 1} exited {self.procs[i].returncode}")
            try:
                with urllib.request.urlopen(self.url(i) + "/ping", timeout=1) as r:
                    if r.read().strip() == b"Ok.":
                        return
            except OSError:
                time.sleep(0.2)
        raise HarnessError(f"clickhouse-server {i + 1} not ready in {timeout} s")

    def query(self, i, sql):
        req = urllib.request.Request(self.url(i) + "/", data=sql.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def cli(bindir, *args):
    r = subprocess.run([os.path.join(bindir, "difftrace")] + list(args), capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise HarnessError(f"difftrace {' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-1500:]}")
    return r.stdout


def run_pipeline(bindir, work, url, seed, seconds=4, schema_on=()):
    gen = os.path.join(bindir, "difftrace-gen")
    with Pipeline(bindir, workdir=work, collector_args=["--clickhouse", ",".join([url] + list(schema_on))],
                  keep=True) as p:
        p.start()
        p.run_app([gen, "--truth", p.path("truth.jsonl"), "--seconds", str(seconds), "--rate", "100",
                   "--threads", "1", "--seed", str(seed)], timeout=seconds * 10 + 60)
        p.stop()
        return p.db, p.path("truth.jsonl"), p.nic_stats


def as_set(spans):
    return {json.dumps(s, sort_keys=True) for s in spans}


def scenario_pipeline(bindir, cl, base):
    db, truth, nic_stats = run_pipeline(bindir, os.path.join(base, "p1"), cl.url(0), seed=7,
                                         schema_on=[cl.url(1)])
    local = dump_spans(bindir, db)
    # read through the node the collector did not write to: the Distributed table fans out
    remote = [json.loads(line) for line in cli(bindir, "dump", "--clickhouse", cl.url(1)).splitlines() if line]
    check(len(local) > 0 and any(s["reconstructed"] for s in local), f"{len(local)} spans in SQLite, none rebuilt?")
    check(as_set(local) == as_set(remote),
          f"ClickHouse dump differs from SQLite: {len(as_set(local) - as_set(remote))} only in SQLite, "
          f"{len(as_set(remote) - as_set(local))} only in ClickHouse")
    rows = [int(cl.query(i, "SELECT count() FROM otel_traces_local").strip()) for i in range(2)]
    reported = sum(1 for s in local if not s["reconstructed"])
    check(sum(rows) == reported and all(rows), f"rows per shard {rows}, reported {reported}")
    check(int(cl.query(0, "SELECT count() FROM otel_traces_trace_id_ts").strip()) > 0, "trace-id table empty")
    traces = json.loads(cli(bindir, "traces", "--db", db, "--json", "--limit", "50"))
    check(traces == json.loads(cli(bindir, "traces", "--clickhouse", cl.url(1), "--json", "--limit", "50")),
          "traces --json differs between the stores")
    for t in traces[:5]:
        a = json.loads(cli(bindir, "show", "--db", db, t["trace_id"], "--json"))
        b = json.loads(cli(bindir, "show", "--clickhouse", cl.url(0), t["trace_id"], "--json"))
        check(a == b, f"show {t['trace_id']} differs between the stores")
    sa = json.loads(cli(bindir, "stats", "--db", db, "--json"))
    sb = json.loads(cli(bindir, "stats", "--clickhouse", cl.url(1), "--json"))
    check({k: sa[k] for k in ("spans", "reported", "reconstructed", "traces", "components")} ==
          {k: sb[k] for k in ("spans", "reported", "reconstructed", "traces", "components")},
          f"stats differ: {sa['spans']}/{sa['reconstructed']} vs {sb['spans']}/{sb['reconstructed']}")
    ev = cli(bindir, "eval", "--truth", truth, "--clickhouse", cl.url(1), "--nic-stats", nic_stats, "--json")
    comp = json.loads(ev.strip().splitlines()[-1])
    check(comp.get("trace_completeness") == 1.0, f"eval on ClickHouse: completeness {comp.get('trace_completeness')}")
    print(f"PASS clickhouse pipeline: {reported} reported rows over 2 shards {rows}, {len(remote)} spans read "
          f"through the other node identical to SQLite, {len(traces)} traces, completeness 1.0")


def scenario_two_collectors(bindir, cl, base):
    db1, _, _ = run_pipeline(bindir, os.path.join(base, "c1"), cl.url(0), seed=11, seconds=3, schema_on=[cl.url(1)])
    db2, _, _ = run_pipeline(bindir, os.path.join(base, "c2"), cl.url(1), seed=12, seconds=3, schema_on=[cl.url(0)])
    # the oracle: both SQLite stores in one (rebuilt spans depend on every profile the store holds,
    # so a trace near the other run's profiles may be rebuilt differently than in its own store alone)
    merged = os.path.join(base, "merged.db")
    shutil.copyfile(db1, merged)
    con = sqlite3.connect(merged)
    con.execute("ATTACH DATABASE ? AS other", (db2,))
    con.execute("INSERT INTO spans SELECT * FROM other.spans")
    con.execute("INSERT INTO profiles SELECT * FROM other.profiles")
    con.execute("INSERT INTO span_kinds SELECT * FROM other.span_kinds WHERE true"
                " ON CONFLICT(name_hash, span_kind) DO UPDATE SET votes = votes + excluded.votes")
    con.commit()
    con.close()
    want = as_set(dump_spans(bindir, merged))
    check(want >= {x for x in as_set(dump_spans(bindir, db1)) if '"reconstructed": false' in x},
          "merged store lost reported spans")
    for i in range(2):
        got = as_set(json.loads(line) for line in cli(bindir, "dump", "--clickhouse", cl.url(i)).splitlines()
                     if line)
        check(got == want, f"node {i + 1}: {len(want - got)} spans missing, {len(got - want)} extra")
    rows = [int(cl.query(i, "SELECT count() FROM otel_traces_local").strip()) for i in range(2)]
    check(all(rows), f"rows per shard {rows}")
    print(f"PASS clickhouse two collectors: {len(want)} spans (two SQLite stores merged) = the ClickHouse store read "
          f"through either node; rows per shard {rows}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--scenario", choices=["pipeline", "two-collectors"], required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not ensure_clickhouse():
        print("SKIP: clickhouse-server is not installed and scripts/setup-deps.sh --clickhouse could not install it")
        return 77
    base = tempfile.mkdtemp(prefix="dft-ch-")
    cl = None
    ok = False
    try:
        cl = Cluster(base)
        {"pipeline": scenario_pipeline, "two-collectors": scenario_two_collectors}[a.scenario](a.bindir, cl, base)
        ok = True
    except (Failure, HarnessError) as e:
        print(f"FAIL clickhouse {a.scenario}: {e}", file=sys.stderr)
    finally:
        if cl:
            cl.stop()
        if ok and not a.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"work dir kept: {base}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
