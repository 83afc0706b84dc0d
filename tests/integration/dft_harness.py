"""Start and stop the real difftrace daemons on loopback for integration tests and the demo.

Everything runs under one temporary directory; every process is stopped and every DPDK runtime
directory removed on exit, whatever happened. The TCP transport runs over mutual TLS 1.3 with a
throwaway CA and certificates made here with the openssl CLI (make_tls); the RDMA transport runs
its HMAC handshake with a throwaway per-sender key (make_rdma_keys). A caller that passes --insecure
to the collector gets plain TCP, or RDMA without keys.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time


class HarnessError(Exception):
    pass


class Failure(Exception):
    """An assertion of a test about what the pipeline did."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run_checked(p, name, fn, *args):
    """Run one scenario: print PASS with its summary, or FAIL with the daemons' log tails (and keep
    the work directory). Returns the process exit code."""
    try:
        msg = fn(p, *args)
    except (Failure, HarnessError) as e:
        print(f"FAIL {name}: {e}\n  work dir: {p.dir}", file=sys.stderr)
        for log in ("nic.log", "collector.log"):
            try:
                print(f"--- {log}:\n" + open(p.path(log)).read()[-3000:], file=sys.stderr)
            except OSError:
                pass
        p.keep = True
        return 1
    print(f"PASS {name}: {msg}")
    return 0


# seconds a daemon may take to be ready: EAL init under ASan in a TCG VM can take longer than the default
READY_S = float(os.environ.get("DFT_IT_READY_S", "30"))


def wait_for_file(path, proc, what, timeout=None):
    timeout = timeout or READY_S
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with {proc.returncode} before it was ready")
        time.sleep(0.02)
    raise HarnessError(f"{what} not ready after {timeout}s")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def telemetry(prefix, cmd, timeout=5.0):
    """One rte_telemetry v2 request: connect, read the greeting, send cmd, read the reply."""
    path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(path)
        greeting = json.loads(s.recv(16384).decode())
        s.send(cmd.encode())
        reply = json.loads(s.recv(greeting.get("max_output_len", 16384)).decode())
    finally:
        s.close()
    return reply.get(cmd.split(",")[0])


def make_tls(dirpath, sender_hex, hosts=("127.0.0.1",)):
    """A throwaway CA (P-256, valid 2 days), a collector certificate for hosts, 127.0.0.1, ::1 and
    localhost, and a NIC certificate naming sender_hex (urn:difftrace:sender:<hex>), under dirpath;
    private keys 0600. Returns {"ca", "collector_cert", "collector_key", "nic_cert", "nic_key"}."""
    os.makedirs(dirpath, exist_ok=True)

    def ossl(*args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise HarnessError(f"openssl {args[0]}: {r.stderr.strip()}")

    def p(name):
        return os.path.join(dirpath, name)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
         "-subj", "/CN=difftrace throwaway test CA")
    ips = sorted({"127.0.0.1", "::1", *[h for h in hosts if h.replace(".", "").replace(":", "").isalnum()]})
    san = ",".join([f"IP:{h}" for h in ips if any(c.isdigit() for c in h) and not h.isalpha()] + ["DNS:localhost"])
    for name, alt in (("collector", san), ("nic", f"URI:urn:difftrace:sender:{sender_hex}")):
        with open(p(f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={alt}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        ossl("req", *ec, "-keyout", p(f"{name}.key"), "-out", p(f"{name}.csr"), "-subj", f"/CN=difftrace {name}")
        ossl("x509", "-req", "-in", p(f"{name}.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
             "-CAcreateserial", "-days", "2", "-out", p(f"{name}.pem"), "-extfile", p(f"{name}.ext"))
    for k in ("ca.key", "collector.key", "nic.key"):
        os.chmod(p(k), 0o600)
    return {"ca": p("ca.pem"), "collector_cert": p("collector.pem"), "collector_key": p("collector.key"),
            "nic_cert": p("nic.pem"), "nic_key": p("nic.key")}


def make_rdma_keys(dirpath, sender_hex, key_hex=None):
    """A throwaway 256-bit key for sender_hex: the collector's key directory (dirpath/keys, one file
    named by the sender id) and the NIC's key file (dirpath/nic.key), both 0600, the directory 0700.
    Returns {"keys": <dir>, "nic_key": <file>}."""
    keys = os.path.join(dirpath, "keys")
    os.makedirs(keys, mode=0o700, exist_ok=True)
    key_hex = key_hex or secrets.token_hex(32)
    out = {"keys": keys, "nic_key": os.path.join(dirpath, "nic.key")}
    for path in (os.path.join(keys, sender_hex), out["nic_key"]):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key_hex + "\n")
        os.chmod(path, 0o600)
    return out


class Pipeline:
    def __init__(self, bindir, workdir=None, lcores="0-1", nic_args=(), collector_args=(), keep=False,
                 transport="tcp", host="127.0.0.1", eal_args=()):
        self.bindir = bindir
        self.transport = transport
        self.host = host
        self.eal_args = list(eal_args)
        self.keep = keep
        self.dir = workdir or tempfile.mkdtemp(prefix="dft-it-")
        os.makedirs(self.dir, exist_ok=True)
        self.prefix = f"dftit{os.getpid()}x{int(time.monotonic() * 1000) % 100000}"
        self.lcores = lcores
        self.nic_args = list(nic_args)
        self.collector_args = list(collector_args)
        self.socket = os.path.join(self.dir, "nic.sock")
        self.db = os.path.join(self.dir, "spans.db")
        self.otlp = os.path.join(self.dir, "spans.otlp.jsonl")
        self.collector_stats = os.path.join(self.dir, "collector-stats.json")
        self.nic_stats = os.path.join(self.dir, "nic-stats.json")
        self.collector = None
        self.nic = None
        self.port = None
        self.app_prefix = []   # argv the apps run under (e.g. a private mount namespace)
        self.app_env_extra = {}
        # TLS on by default for TCP (set DFT_TLS=0 to run every test in the clear): the NIC's sender id
        # is the one its certificate names, so take the caller's --sender-id or make one up
        self.tls = (transport == "tcp" and "--insecure" not in self.collector_args
                    and os.environ.get("DFT_TLS", "1") != "0")
        self.sender_hex = None
        if "--sender-id" in self.nic_args:
            self.sender_hex = "%016x" % int(self.nic_args[self.nic_args.index("--sender-id") + 1], 16)
        if self.tls:
            self.sender_hex = self.sender_hex or "%016x" % (secrets.randbits(63) | 1)
            self.tls_files = make_tls(self.path("tls"), self.sender_hex, hosts=(host,))
        # RDMA: the sender proves a per-sender key (DFT_RDMA_AUTH=0: run without, --insecure)
        self.rdma_auth = (transport == "rdma" and "--insecure" not in self.collector_args
                          and os.environ.get("DFT_RDMA_AUTH", "1") != "0")
        if self.rdma_auth:
            self.sender_hex = self.sender_hex or "%016x" % (secrets.randbits(63) | 1)
            if "--sender-id" not in self.nic_args:
                self.nic_args += ["--sender-id", self.sender_hex]
            self.rdma_keys = make_rdma_keys(self.path("rdma"), self.sender_hex)
        if not self.tls and not self.rdma_auth and "--insecure" not in self.collector_args:
            self.collector_args.append("--insecure")

    def path(self, name):
        return os.path.join(self.dir, name)

    def start_collector(self):
        ready = self.path("collector.port")
        if os.path.exists(ready):
            os.remove(ready)
        log = open(self.path("collector.log"), "a")
        self.collector = subprocess.Popen(
            [os.path.join(self.bindir, "difftrace-collector"), "--transport", self.transport,
             "--listen", "%s:%d" % (self.host, self.port or 0),
             "--db", self.db, "--otlp-json", self.otlp, "--stats-json", self.collector_stats,
             "--ready-file", ready] + self.tls_collector_args() + self.collector_args,
            stdout=log, stderr=subprocess.STDOUT)
        wait_for_file(ready, self.collector, "difftrace-collector")
        with open(ready) as f:
            self.port = int(f.read().strip())

    def start_nic(self):
        ready = self.path("nic.ready")
        if os.path.exists(ready):
            os.remove(ready)
        log = open(self.path("nic.log"), "a")
        self.nic = subprocess.Popen(
            [os.path.join(self.bindir, "difftrace-nic"), "--no-huge", "--no-pci", "-m", "256",
             "-l", self.lcores, f"--file-prefix={self.prefix}", "--log-level=*:error"] + self.eal_args + [
             "--", "--transport", self.transport,
             "--socket", self.socket, "--collector", f"{self.host}:{self.port}",
             "--stats-json", self.nic_stats, "--ready-file", ready] + self.tls_nic_args() + self.nic_args,
            stdout=log, stderr=subprocess.STDOUT)
        wait_for_file(ready, self.nic, "difftrace-nic")

    def tls_collector_args(self):
        if self.rdma_auth:
            return ["--rdma-keys", self.rdma_keys["keys"]]
        if not self.tls:
            return []
        t = self.tls_files
        return ["--tls-cert", t["collector_cert"], "--tls-key", t["collector_key"], "--tls-ca", t["ca"]]

    def tls_nic_args(self):
        if self.rdma_auth:
            return ["--rdma-key", self.rdma_keys["nic_key"]]
        if not self.tls:
            return []
        t = self.tls_files
        return ["--tls-cert", t["nic_cert"], "--tls-key", t["nic_key"], "--tls-ca", t["ca"]]

    def start(self):
        self.start_collector()
        self.start_nic()

    def app_env(self):
        env = dict(os.environ)
        env["DFT_SOCKET"] = self.socket
        env.update(self.app_env_extra)
        return env

    def run_app(self, args, timeout=300):
        r = subprocess.run(self.app_prefix + list(args), env=self.app_env(), capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise HarnessError(f"{args[0]} exited {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def nic_telemetry(self):
        return telemetry(self.prefix, "/difftrace/stats")

    def nic_regions(self):
        """Telemetry /difftrace/regions: {"regions": N, "region_<id>": {pid, produced, ...}, ...}."""
        return telemetry(self.prefix, "/difftrace/regions")

    @staticmethod
    def _stop(proc, what, timeout=30):
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise HarnessError(f"{what} did not stop within {timeout}s of SIGTERM")

    def stop_nic(self):
        rc = self._stop(self.nic, "difftrace-nic")
        self.nic = None
        if rc != 0:
            raise HarnessError(f"difftrace-nic exited {rc}; log: {self.path('nic.log')}")

    def stop_collector(self):
        rc = self._stop(self.collector, "difftrace-collector")
        self.collector = None
        if rc != 0:
            raise HarnessError(f"difftrace-collector exited {rc}; log: {self.path('collector.log')}")

    def stop(self):
        self.stop_nic()
        self.stop_collector()

    def close(self):
        for p in (self.nic, self.collector):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- reading results
    def read_spans(self):
        """Every span as the store's readers see it (`difftrace dump`): reported rows and the
        platform spans rebuilt from the stored hop lists (reconstructed = True)."""
        return dump_spans(self.bindir, self.db)

    def stored_spans(self):
        """Spans the NIC reported (reconstructed ones excluded), keyed by (trace id, span id)."""
        con = sqlite3.connect(self.db)
        try:
            rows = con.execute(
                "SELECT hex(trace_id), span_id, parent_span_id, start_ns, end_ns, component, operation,"
                " kind, status, keep_reasons, attrs, status_message FROM spans WHERE reconstructed = 0").fetchall()
        finally:
            con.close()
        out = {}
        for r in rows:
            key = (r[0].lower(), "%016x" % (r[1] & (2**64 - 1)))
            if key in out:
                raise HarnessError(f"span {key} stored twice")
            out[key] = {"parent": "%016x" % (r[2] & (2**64 - 1)), "start_ns": r[3] & (2**64 - 1),
                        "end_ns": r[4] & (2**64 - 1), "component": r[5], "operation": r[6], "kind": r[7],
                        "status": r[8], "keep_reasons": r[9], "attrs": json.loads(r[10]) if r[10] else {},
                        "status_message": r[11] or ""}
        return out

    def exported_spans(self):
        out = {}
        with open(self.otlp) as f:
            for n, line in enumerate(f, 1):
                req = json.loads(line)
                for rs in req["resourceSpans"]:
                    attrs = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                    service = attrs["service.name"]["stringValue"]
                    for ss in rs["scopeSpans"]:
                        for sp in ss["spans"]:
                            if any(a["key"] == "difftrace.reconstructed" for a in sp.get("attributes", [])):
                                continue  # rebuilt by the collector, not reported by the NIC
                            key = (sp["traceId"], sp["spanId"])
                            if key in out:
                                raise HarnessError(f"span {key} exported twice (line {n})")
                            out[key] = {"parent": sp.get("parentSpanId") or "0" * 16,
                                        "start_ns": int(sp["startTimeUnixNano"]),
                                        "end_ns": int(sp["endTimeUnixNano"]), "component": service,
                                        "operation": sp["name"], "status": sp.get("status", {}).get("code", 0),
                                        "status_message": sp.get("status", {}).get("message", ""),
                                        "kind": sp.get("kind", 0)}
        return out

    def otlp_shape(self):
        """What a trace viewer would object to in the OTLP output: spans exported with kind 0
        (UNSPECIFIED), and rebuilt spans (difftrace.reconstructed) outside their parent's interval,
        the parent as exported (the reported span when there is one, else the rebuilt one). Returns
        {"spans", "rebuilt", "rebuilt_with_parent", "kind_unspecified": [keys], "outside": [(key, why)]}."""
        spans = {}
        with open(self.otlp) as f:
            for line in f:
                for rs in json.loads(line)["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for sp in ss["spans"]:
                            rebuilt = any(a["key"] == "difftrace.reconstructed" for a in sp.get("attributes", []))
                            key = (sp["traceId"], sp["spanId"])
                            # a real span that came after its reconstruction replaces it
                            if key not in spans or not rebuilt:
                                spans[key] = (sp, rebuilt)
        out = {"spans": len(spans), "rebuilt": 0, "rebuilt_with_parent": 0, "kind_unspecified": [], "outside": []}
        for key, (sp, rebuilt) in spans.items():
            if sp.get("kind", 0) == 0:
                out["kind_unspecified"].append(key)
            if not rebuilt:
                continue
            out["rebuilt"] += 1
            parent = spans.get((key[0], sp.get("parentSpanId") or ""))
            if parent is None:
                continue
            out["rebuilt_with_parent"] += 1
            ps, pe = int(parent[0]["startTimeUnixNano"]), int(parent[0]["endTimeUnixNano"])
            cs, ce = int(sp["startTimeUnixNano"]), int(sp["endTimeUnixNano"])
            if cs < ps or ce > pe:
                out["outside"].append((key, f"[{cs}, {ce}] not in parent [{ps}, {pe}]"))
        return out

    def check_otlp_shape(self):
        """No UNSPECIFIED kind, no rebuilt span outside its parent. Returns otlp_shape()."""
        sh = self.otlp_shape()
        check(not sh["kind_unspecified"], f"{len(sh['kind_unspecified'])} spans exported with kind 0, "
              f"e.g. {sh['kind_unspecified'][:3]}")
        check(not sh["outside"], f"{len(sh['outside'])} of {sh['rebuilt_with_parent']} rebuilt spans lie outside "
              f"their parent, e.g. {sh['outside'][:3]}")
        return sh


LOST_KEYS = ("lost_ring_full", "lost_invalid", "lost_backlog_full", "lost_transport", "lost_hold_overflow",
             "lost_no_ring")


def dump_spans(bindir, db):
    """`difftrace dump --db DB`: one dict per span (trace_id and ids as lower-case hex)."""
    r = subprocess.run([os.path.join(bindir, "difftrace"), "dump", "--db", db], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise HarnessError(f"difftrace dump exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line]


def accounting(counters):
    """(produced, reported + filtered + lost) from a counters dict."""
    total = counters["reported"] + counters["filtered"] + sum(counters[k] for k in LOST_KEYS)
    return counters["produced"], total
