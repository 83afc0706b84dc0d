#!/usr/bin/env python3
"""Probes of issue 11 against the real daemons on loopback, one per --probe, with default limits.

Each probe plays a hostile local user or network peer, then checks that a well-behaved NIC and app
lose nothing uncounted: every span the NIC reports is stored under its sender id, nothing is lost,
and the refusal the probe provoked is counted. Conditions are polled with generous bounds; no probe
depends on a sleep being long enough.
"""
import argparse
import json
import os
import resource
import select
import socket
import sqlite3
import ssl
import stat
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from dft_harness import Failure, HarnessError, Pipeline, check, read_json, run_checked  # noqa: E402

NIC_SENDER = 0x5EC0000000000001
NIC_SENDER_HEX = "%016x" % NIC_SENDER

# ---- the wire, written out by hand (a hostile peer does not use our encoder)
FRAME_MAGIC = 0x44465446
BATCH, ACK, HELLO, BUSY = 1, 2, 3, 4


def frame(ftype, payload, claimed_len=None):
    n = len(payload) if claimed_len is None else claimed_len
    return struct.pack(">IHHII", FRAME_MAGIC, 1, ftype, n, 0) + payload


def hello(sender):
    return frame(HELLO, struct.pack(">QQ", sender, 0))


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_varint(field, v):
    return varint(field << 3) + varint(v)


def pb_fixed64(field, v):
    return varint(field << 3 | 1) + struct.pack("<Q", v)


def pb_bytes(field, b):
    return varint(field << 3 | 2) + varint(len(b)) + b


def batch(sender, seq, spans=(), strings=()):
    hdr = pb_fixed64(1, sender) + pb_varint(2, seq) + pb_bytes(4, b"")
    out = pb_bytes(1, hdr)
    for s in strings:
        out += pb_bytes(2, s.encode())
    for sp in spans:
        out += pb_bytes(3, sp)
    return out


def span(trace_id, span_id, n_attrs=0):
    out = pb_bytes(1, trace_id) + pb_fixed64(2, span_id) + pb_fixed64(3, 0) + pb_fixed64(4, 1000) + \
        pb_fixed64(5, 2000) + pb_varint(6, 0) + pb_varint(7, 1) + pb_varint(10, 1)
    attr = pb_bytes(14, pb_varint(1, 1) + pb_varint(2, 2))
    return out + attr * n_attrs


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise HarnessError("collector closed the connection")
        buf += b
    return buf


def read_ack(s):
    h = recv_exact(s, 16)
    magic, _ver, ftype, n, _r = struct.unpack(">IHHII", h)
    check(magic == FRAME_MAGIC and ftype == ACK and n == 16, f"unexpected frame from the collector: {h.hex()}")
    return struct.unpack(">QQ", recv_exact(s, 16))


def wait_until(cond, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise Failure(f"not within {timeout:.0f} s: {what}")


def collector_stats(p):
    try:
        return read_json(p.collector_stats)
    except (OSError, ValueError):
        return {}


def wait_stat(p, key, pred, timeout, what):
    return wait_until(lambda: pred(collector_stats(p).get(key, 0)), timeout, what)


def stored_by(p, sender):
    con = sqlite3.connect(p.db)
    try:
        return con.execute("SELECT count(*) FROM spans WHERE sender_id = ? AND reconstructed = 0",
                           (sender - (1 << 64) if sender >= 1 << 63 else sender,)).fetchone()[0]
    finally:
        con.close()


def well_behaved_run(p, app, traces=300, name="victim", not_allowed_ok=False):
    """The honest side: an app through the NIC. After the NIC's drain, every span it reported is
    stored under its sender id and nothing is lost. Returns (nic stats, collector stats)."""
    out = p.run_app([app, "--manifest", p.path(f"{name}.manifest.jsonl"), "--component", name, "--threads", "2",
                     "--traces", str(traces), "--seed", "7"])
    fini = json.loads(out.strip().splitlines()[-1])
    check(fini["fini"] == 0, f"the app's dft_fini did not drain: {fini}")
    p.stop_nic()
    nic = read_json(p.nic_stats)
    lost = {k: v for k, v in nic.items() if k.startswith("lost_") and v}
    if not_allowed_ok and lost.get("lost_invalid") == nic.get("invalid_not_allowed"):
        del lost["lost_invalid"]  # refused by the allow-list, counted: what the probe provoked
    check(nic["produced"] > 0, "the NIC saw nothing of the app")
    check(not lost, f"spans lost: {lost}")
    check(nic["produced"] == nic["reported"] + nic["filtered"] + (nic["lost_invalid"] if not_allowed_ok else 0),
          f"accounting: {nic}")
    stored = stored_by(p, NIC_SENDER)
    check(stored == nic["reported"], f"the NIC reported {nic['reported']} spans, the store holds {stored} of them")
    return nic, collector_stats(p)


def pipeline(bindir, insecure=False, **kw):
    """TLS on, as by default; insecure: plain TCP, for probes that speak the frames by hand (the
    limits they test must hold for an authenticated sender too)."""
    nic_args = ["--sender-id", NIC_SENDER_HEX] + list(kw.pop("nic_args", ()))
    return Pipeline(bindir, nic_args=nic_args, collector_args=["--insecure"] if insecure else [], **kw)


# ---- probes


def probe_seq_poison(p, app):
    """HELLO with the running NIC's sender id, then one batch with sequence 2^62."""
    p.start()
    s = connect(p.port)
    s.sendall(hello(NIC_SENDER))
    read_ack(s)
    s.sendall(frame(BATCH, batch(NIC_SENDER, 1 << 62)))
    wait_stat(p, "batches_seq_refused", lambda v: v >= 1, 30, "batch with sequence 2^62 refused and counted")
    s.close()
    nic, col = well_behaved_run(p, app)
    p.stop_collector()
    con = sqlite3.connect(p.db)
    mx = con.execute("SELECT max_seq FROM senders WHERE sender_id = ?", (NIC_SENDER,)).fetchone()[0]
    con.close()
    check(mx < 1 << 20, f"stored high-water mark {mx}: the forged sequence was persisted")
    return f"forged sequence refused ({col['batches_seq_refused']}), {nic['reported']} spans reported and stored"


def probe_sender_flood(p, app):
    """4,200 HELLOs with fresh sender ids (more than the sender table holds), then a new NIC."""
    p.start_collector()
    for i in range(4200):
        s = connect(p.port)
        s.sendall(hello(0xF100D00000000000 + i))
        read_ack(s)
        s.close()
    wait_stat(p, "senders_evicted", lambda v: v >= 1, 30, "idle senders evicted from the table")
    p.start_nic()
    nic, col = well_behaved_run(p, app)
    check(col["senders_refused"] == 0, f"senders refused: {col['senders_refused']}")
    return f"{col['senders_evicted']} idle senders evicted, none refused; {nic['reported']} spans stored"


def probe_idle_conns(p, app):
    """500 idle TCP connections held open, then a NIC starts."""
    p.start_collector()
    held = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    for _ in range(500):
        try:
            held.append(connect(p.port, timeout=5))
        except OSError:
            pass
    wait_stat(p, "connections", lambda v: v >= 64, 30, "the collector accepted the flood")
    p.start_nic()
    try:
        nic, col = well_behaved_run(p, app)
    finally:
        for s in held:
            s.close()
    check(col["connections_open"] <= 64, f"{col['connections_open']} connections open")
    check(col["connections_evicted"] + col["connections_refused_peer"] > 0, "no eviction or refusal counted")
    return (f"{col['connections_evicted']} evicted, {col['connections_refused_peer']} refused (peer quota); "
            f"{nic['reported']} spans stored")


def probe_slow_loris(p, app):
    """One byte per second on a connection: closed by the read timeout."""
    p.start_collector()
    s = connect(p.port)
    msg = hello(0xBADB0B)
    t0 = time.monotonic()
    closed = False
    s.setblocking(False)
    i = 0
    while time.monotonic() - t0 < 40:
        try:
            s.send(msg[i % len(msg):i % len(msg) + 1])
            i += 1
        except OSError:
            closed = True
            break
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            try:
                if s.recv(64) == b"":
                    closed = True
                    break
            except OSError:
                closed = True
                break
    s.close()
    check(closed, "a connection trickling one byte per second was still open after 40 s")
    st = wait_stat(p, "connections_timed_out", lambda v: v >= 1, 10, "timeout counted")
    return f"closed after {time.monotonic() - t0:.1f} s ({i} bytes), connections_timed_out counted"


def probe_busy_linger(p, app):
    """Storage failing: a sender's batch gets BUSY; the sender then floods the half-closed connection
    and never closes it. It must read BUSY before an orderly EOF, and the collector must still close
    the connection (the linger is bounded); once storage recovers a NIC loses nothing."""
    flag = p.path("store-full")
    open(flag, "w").close()
    os.environ["DFT_FAULT_STORE_FULL"] = flag
    try:
        p.start_collector()
    finally:
        del os.environ["DFT_FAULT_STORE_FULL"]
    sender = 0xB0550000000000A1
    s = connect(p.port)
    s.sendall(hello(sender))
    read_ack(s)
    s.sendall(frame(BATCH, batch(sender, 1)))
    wait_stat(p, "busy_sent", lambda v: v >= 1, 30, "BUSY sent for the round that failed to commit")
    s.setblocking(False)
    got, eof, closed, sent = b"", False, False, 0
    junk = b"\xff" * 65536
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and not closed:
        try:
            sent += s.send(junk)
        except BlockingIOError:
            pass
        except OSError:
            closed = True  # the collector closed its end for good (after its linger)
        if not eof:
            try:
                b = s.recv(65536)
                if b:
                    got += b
                else:
                    eof = True  # the collector's half-close: FIN, behind what it wrote
            except BlockingIOError:
                pass
            except OSError as e:
                raise Failure(f"reset before an orderly EOF (read {len(got)} bytes): {e}")
        time.sleep(0.001)
    s.close()
    frames = []
    while len(got) >= 16:
        magic, _v, ftype, n, _r = struct.unpack(">IHHII", got[:16])
        check(magic == FRAME_MAGIC, f"not a frame from the collector: {got[:16].hex()}")
        frames.append(ftype)
        got = got[16 + n:]
    check(BUSY in frames, f"no BUSY frame before EOF (frames {frames})")
    check(eof, "no EOF from the collector after BUSY")
    check(closed, f"a sender flooding after BUSY ({sent} bytes) kept its connection for 60 s")
    os.remove(flag)  # recovery shows at the next round that commits: the NIC's first batches
    p.start_nic()
    nic, col = well_behaved_run(p, app)
    wait_until(lambda: collector_stats(p).get("health") == "ok" or None, 30, "collector health ok")
    return (f"BUSY then EOF, the flooding sender ({sent} bytes after BUSY) closed within "
            f"{time.monotonic() - t0:.1f} s; {nic['reported']} spans stored after recovery")


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def probe_partial_flood(p, app):
    """60 connections, each sending a 16 MiB frame minus one byte: collector memory stays bounded."""
    p.start_collector()
    base = vm_hwm_kb(p.collector.pid)
    socks = []
    for i in range(60):
        try:
            s = connect(p.port)
            s.sendall(hello(0xF1A7000000000000 + i))
            s.setblocking(False)
            socks.append([s, frame(BATCH, b"", claimed_len=16 << 20) + b"\0" * ((16 << 20) - 1), 0])
        except OSError:
            pass
    chunk = 1 << 20
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(x[2] < len(x[1]) for x in socks):
        for x in socks:
            if x[2] >= len(x[1]):
                continue
            try:
                n = x[0].send(x[1][x[2]:x[2] + chunk])
                x[2] += n
            except BlockingIOError:
                pass
            except OSError:
                x[2] = len(x[1])  # closed by the collector: done with this one
        time.sleep(0.01)
    # the collector has read what it will hold; its peak is what the flood cost
    time.sleep(1.0)
    peak = vm_hwm_kb(p.collector.pid)
    for x in socks:
        x[0].close()
    col = wait_until(lambda: collector_stats(p) if collector_stats(p).get("rx_budget_refused", 0)
                     + collector_stats(p).get("connections_refused_peer", 0) > 0 else None, 30,
                     "the flood was refused and counted")
    grown_mb = (peak - base) / 1024
    check(grown_mb < 200, f"collector peak RSS grew by {grown_mb:.0f} MiB under the flood")
    p.start_nic()
    nic, col = well_behaved_run(p, app)
    return (f"peak RSS {base / 1024:.1f} -> {peak / 1024:.1f} MiB; rx_budget_refused {col['rx_budget_refused']}, "
            f"refused (peer quota) {col['connections_refused_peer']}; {nic['reported']} spans stored afterwards")


def probe_big_batch(p, app):
    """Batches with 150,000 attributes on one span, sent over and over while a real NIC reports."""
    p.start()
    big = batch(0xB16B00B500000000, 1, spans=[span(b"\x11" * 16, 1, n_attrs=150000)], strings=["c", "op"])
    sent = 0
    for _ in range(20):
        s = connect(p.port)
        s.sendall(hello(0xB16B00B500000000))
        read_ack(s)
        try:
            s.sendall(frame(BATCH, big))
            sent += 1
            s.settimeout(30)
            s.recv(64)  # the collector closes the connection once it has refused the batch
        except OSError:
            pass
        s.close()
    wait_stat(p, "frames_bad", lambda v: v >= sent, 30, "every oversized batch refused")
    nic, col = well_behaved_run(p, app)
    check(col["commit_failures"] == 0, f"{col['commit_failures']} group commits rolled back")
    check(nic["disconnects"] == 0, f"the real NIC was disconnected {nic['disconnects']} times")
    return f"{sent} oversized batches refused alone (frames_bad {col['frames_bad']}), 0 rollbacks; {nic['reported']} spans"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def probe_files(p, app):
    """Store, OTLP and stats files of both daemons are not readable by others."""
    p.start()
    nic, col = well_behaved_run(p, app, traces=50)
    p.stop_collector()
    bad = {}
    for f in (p.db, p.db + "-wal", p.otlp, p.collector_stats, p.nic_stats):
        if os.path.exists(f) and mode(f) & 0o027:
            bad[os.path.basename(f)] = oct(mode(f))
    check(not bad, f"files readable by others (or writable by the group): {bad}")
    return "store, OTLP, stats files 0640 or tighter"


# ---- registration socket


def probe_reg_socket_mode(p, app):
    """The registration socket is created 0660 (not from the umask)."""
    old = os.umask(0o022)
    try:
        p.start()
    finally:
        os.umask(old)
    m = mode(p.socket)
    check(m == 0o660, f"registration socket mode {oct(m)}")
    nic, col = well_behaved_run(p, app, traces=50)
    return f"socket 0660, an allowed app registers ({nic['reported']} spans)"


def as_user(uid, gid):
    def pre():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return pre


def nobody_manifest(p, name):
    d = p.path("nobody")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    return os.path.join(d, f"{name}.manifest.jsonl")


def probe_reg_peercred(p, app):
    """A process of uid 65534 that can reach the socket may not register: not in the allow-list."""
    if os.geteuid() != 0:
        print("SKIP: needs root to run a process as another uid")
        sys.exit(77)
    os.chmod(p.dir, 0o755)
    p.nic_args += ["--socket-group", "65534"]
    p.start()
    os.chmod(p.socket, 0o660)
    env = p.app_env()
    r = subprocess.run([app, "--manifest", nobody_manifest(p, "payments"), "--component", "payments", "--traces", "20",
                        "--threads", "1", "--fini-ms", "3000"], env=env, capture_output=True, text=True,
                       timeout=120, preexec_fn=as_user(65534, 65534))
    check(r.returncode == 0, f"app as uid 65534 exited {r.returncode}: {r.stderr}")
    st = wait_until(lambda: (lambda t: t if t and t.get("regions_refused", 0) >= 1 else None)(p.nic_telemetry()),
                    30, "registration of uid 65534 refused and counted")
    nic, col = well_behaved_run(p, app, traces=50)
    con = sqlite3.connect(p.db)
    n = con.execute("SELECT count(*) FROM spans WHERE component = 'payments'").fetchone()[0]
    con.close()
    check(n == 0, f"{n} spans of uid 65534 stored as 'payments'")
    return f"uid 65534 refused (regions_refused {st['regions_refused']}), an allowed app stored {nic['reported']}"


def probe_reg_component(p, app):
    """An allowed uid may register only the components the allow-list gives it."""
    if os.geteuid() != 0:
        print("SKIP: needs root to run a process as another uid")
        sys.exit(77)
    os.chmod(p.dir, 0o755)
    p.nic_args += ["--socket-group", "65534", "--reg-allow", "uid=65534:frontend,ingress-gateway,activator,queue-proxy",
                   "--reg-allow", "uid=0:*"]
    p.start()
    r = subprocess.run([app, "--manifest", nobody_manifest(p, "payments"), "--component", "payments", "--traces", "20",
                        "--threads", "1", "--fini-ms", "3000"], env=p.app_env(), capture_output=True, text=True,
                       timeout=120, preexec_fn=as_user(65534, 65534))
    check(r.returncode == 0, f"app exited {r.returncode}: {r.stderr}")
    st = wait_until(lambda: (lambda t: t if t and t.get("regions_refused", 0) >= 1 else None)(p.nic_telemetry()),
                    30, "registration as 'payments' by a uid allowed only 'frontend' refused")
    fe_manifest = nobody_manifest(p, "frontend")
    r = subprocess.run([app, "--manifest", fe_manifest, "--component", "frontend", "--traces", "20",
                        "--threads", "1"], env=p.app_env(), capture_output=True, text=True,
                       timeout=120, preexec_fn=as_user(65534, 65534))
    check(r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["fini"] == 0,
          f"uid 65534 as its own component 'frontend' did not register: {r.stdout} {r.stderr}")
    nic, col = well_behaved_run(p, app, traces=50, not_allowed_ok=True)
    fe_traces = set()
    for part in os.listdir(os.path.dirname(fe_manifest)):
        if part.startswith("frontend.manifest"):
            with open(os.path.join(os.path.dirname(fe_manifest), part)) as f:
                fe_traces |= {json.loads(line)["trace_id"] for line in f}
    con = sqlite3.connect(p.db)
    n = con.execute("SELECT count(*) FROM spans WHERE component = 'payments'").fetchone()[0]
    fn = sum(con.execute("SELECT count(*) FROM spans WHERE lower(hex(trace_id)) = ? AND component = 'user-fn'",
                         (t,)).fetchone()[0] for t in fe_traces)
    con.close()
    check(n == 0, f"{n} spans stored as 'payments'")
    check(fe_traces, "no manifest of the 'frontend' run")
    check(fn == 0, f"{fn} 'user-fn' spans of the uid allowed only frontend and platform components were stored")
    check(nic["invalid_not_allowed"] > 0, "no span refused as not_allowed")
    return (f"'payments' refused at registration; 'frontend' registered, its {nic['invalid_not_allowed']} spans "
            f"as 'user-fn' refused and counted (invalid_not_allowed)")


def probe_reg_peer_pid(p, app):
    """The region's pid and uid in telemetry are the kernel's (SO_PEERCRED), not the message's."""
    p.start()
    proc = subprocess.Popen([app, "--manifest", p.path("pidcheck.manifest.jsonl"), "--component", "pidcheck", "--traces", "2000",
                             "--threads", "1", "--pace-us", "2000"], env=p.app_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        def found():
            r = p.nic_regions() or {}
            rows = [v for k, v in r.items() if k.startswith("region_")]
            return rows if rows else None
        rows = wait_until(found, 30, "the app's region in /difftrace/regions")
        check(any(r.get("peer_pid") == proc.pid and r.get("peer_uid") == os.geteuid() for r in rows),
              f"no region row with peer_pid {proc.pid} and peer_uid {os.geteuid()}: {rows}")
    finally:
        proc.kill()
        proc.wait()
    return f"peer_pid {proc.pid} and peer_uid recorded from SO_PEERCRED"


def probe_reg_idle_conns(p, app):
    """256 idle connections on the registration socket; a real app still registers and drains."""
    p.start()
    held = []
    for _ in range(256):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(p.socket)
            held.append(s)
        except OSError:
            s.close()
    try:
        nic, col = well_behaved_run(p, app, traces=100)
    finally:
        for s in held:
            s.close()
    return f"{len(held)} idle connections held; the app registered and {nic['reported']} spans were stored"


# ---- TLS


def tls_client_cert(p, sender_hex, name):
    """Another certificate from the pipeline's throwaway CA, naming sender_hex."""
    d = p.path("tls")
    key, csr, crt, ext = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "pem", "ext"))
    with open(ext, "w") as f:
        f.write(f"subjectAltName=URI:urn:difftrace:sender:{sender_hex}\nextendedKeyUsage=clientAuth\n")
    for args in (["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                  "-subj", f"/CN={name}"],
                 ["x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.pem"), "-CAkey", os.path.join(d, "ca.key"),
                  "-CAcreateserial", "-days", "1", "-out", crt, "-extfile", ext]):
        subprocess.run(["openssl"] + args, check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


def tls_connect(p, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(p.tls_files["ca"])
    if cert:
        ctx.load_cert_chain(cert, key)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def closed_by_peer(s, timeout=30):
    s.settimeout(timeout)
    try:
        return s.recv(64) == b""
    except (ssl.SSLError, OSError):
        return True


def probe_tls_no_cert(p, app):
    """A plain-TCP sender, and a TLS client without a certificate: both refused, counted; the NIC
    with its certificate stores everything."""
    p.start()
    s = connect(p.port)
    try:
        s.sendall(hello(NIC_SENDER) + frame(BATCH, batch(NIC_SENDER, 1 << 62)))
    except OSError:
        pass  # reset already: refused
    check(closed_by_peer(s), "a plain-TCP HELLO was not refused")
    s.close()
    try:
        t = tls_connect(p)
        try:
            t.sendall(hello(NIC_SENDER))
        except OSError:
            pass
        check(closed_by_peer(t), "a TLS client without a certificate was not refused")
        t.close()
    except (ssl.SSLError, OSError):
        pass  # refused during the handshake itself
    wait_stat(p, "tls_refused", lambda v: v >= 2, 30, "both refusals counted in tls_refused")
    nic, col = well_behaved_run(p, app)
    check(col["batches_seq_refused"] == 0 and col["frames_bad"] == 0, f"a frame got past TLS: {col}")
    return f"tls_refused {col['tls_refused']}; the NIC's {nic['reported']} spans stored"


def probe_tls_wrong_sender(p, app):
    """A sender with a valid certificate of its own says HELLO as the running NIC: refused."""
    p.start()
    crt, key = tls_client_cert(p, "00000000000e7e11", "intruder")
    t = tls_connect(p, crt, key)
    try:
        t.sendall(hello(NIC_SENDER) + frame(BATCH, batch(NIC_SENDER, 1 << 62)))
    except OSError:
        pass  # reset already: refused
    check(closed_by_peer(t), "a HELLO naming another sender than the certificate was not refused")
    t.close()
    wait_stat(p, "hello_refused", lambda v: v >= 1, 30, "hello_refused counted")
    nic, col = well_behaved_run(p, app)
    return f"hello_refused {col['hello_refused']}; the NIC's {nic['reported']} spans stored"


def probe_tls_key_perms(p, app):
    """A private key readable by others is refused at start, with a message naming it; so is a
    collector started with neither credentials nor --insecure."""
    t = p.tls_files
    os.chmod(t["collector_key"], 0o644)
    exe = os.path.join(os.path.dirname(app), "difftrace-collector")
    base = [exe, "--listen", "127.0.0.1:0", "--db", p.db]
    r = subprocess.run(base + ["--tls-cert", t["collector_cert"], "--tls-key", t["collector_key"], "--tls-ca", t["ca"]],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "too open" in r.stderr and t["collector_key"] in r.stderr,
          f"collector with a 0644 key: exit {r.returncode}, {r.stderr.strip()}")
    r2 = subprocess.run(base, capture_output=True, text=True, timeout=30)
    check(r2.returncode != 0 and "--insecure" in r2.stderr, f"collector without credentials: {r2.returncode} {r2.stderr}")
    r3 = subprocess.Popen(base + ["--insecure", "--ready-file", p.path("insecure.port")], stderr=subprocess.PIPE,
                          text=True)
    try:
        wait_until(lambda: os.path.exists(p.path("insecure.port")), 30, "collector --insecure listening")
    finally:
        r3.terminate()
        err = r3.communicate(timeout=30)[1]
    check("WARNING" in err and "--insecure" in err, f"--insecure without a warning: {err}")
    return "0644 key refused, no credentials refused, --insecure warns"


PROBES = {
    "tls_no_cert": probe_tls_no_cert,
    "tls_wrong_sender": probe_tls_wrong_sender,
    "tls_key_perms": probe_tls_key_perms,
    "seq_poison": probe_seq_poison,
    "sender_flood": probe_sender_flood,
    "idle_conns": probe_idle_conns,
    "slow_loris": probe_slow_loris,
    "busy_linger": probe_busy_linger,
    "partial_flood": probe_partial_flood,
    "big_batch": probe_big_batch,
    "files": probe_files,
    "reg_socket_mode": probe_reg_socket_mode,
    "reg_peercred": probe_reg_peercred,
    "reg_component": probe_reg_component,
    "reg_peer_pid": probe_reg_peer_pid,
    "reg_idle_conns": probe_reg_idle_conns,
}


# probes that speak the frames by hand as a sender would after HELLO: plain TCP (--insecure)
RAW_PROBES = {"seq_poison", "sender_flood", "slow_loris", "busy_linger", "partial_flood", "big_batch"}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--probe", required=True, choices=sorted(PROBES))
    a = ap.parse_args()
    app = os.path.join(a.bindir, "dft_testapp")
    with pipeline(a.bindir, insecure=a.probe in RAW_PROBES) as p:
        return run_checked(p, f"security_{a.probe}", PROBES[a.probe], app)


if __name__ == "__main__":
    sys.exit(main())
