#!/usr/bin/env python3
"""The analysis views in headless Chromium.

Builds a store with view_fixture (the collector's own store code), then:
  - `difftrace critical-path --json` on the anomalous trace: the path tiles the root's latency,
    rebuilt spans are marked estimated, the child outliving the root has no slack;
  - `difftrace view` pages, rendered with `chromium --headless --dump-dom`: one bar per span, the
    critical-path bars and rebuilt bars marked, no script or console errors, no request beyond
    the page itself (the page's own counters: performance resource entries, CSP violations),
    untrusted names shown as text (no injected element); a 5001-span trace stays paged;
  - a screenshot of the page under the build directory (view-trace.png);
  - `difftrace serve` on a free loopback port: the list page, its filters, a trace page, the
    JSON endpoints, errors for unknown ids and bad filters; non-loopback refused;
  - bad input: unknown trace id, empty store, missing store, bad flags -> a message and exit code.
Exit 77 (skipped) only when no chromium binary is installed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser

ANOM = "a1" * 16
BIG = "b1" * 16
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)
    return cond


class Dom(HTMLParser):
    """Collects the elements of a dumped DOM: (tag, attrs dict), and the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.els = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.els.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.els.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag=None, cls=None, **attrs):
        out = []
        for t, a in self.els:
            if tag and t != tag:
                continue
            if cls and cls not in (a.get("class") or "").split():
                continue
            if any(a.get(k) != v for k, v in attrs.items()):
                continue
            out.append(a)
        return out

    def body(self):
        return self.find("body")[0]


def chromium_bin():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    def __init__(self, exe, tmp):
        self.exe = exe
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)

    def _args(self):
        return [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
                f"--user-data-dir={self.profile}", "--enable-logging=stderr", "--v=0"]

    def dom(self, url):
        r = subprocess.run(self._args() + ["--virtual-time-budget=3000", "--dump-dom", url],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"chromium --dump-dom {url} exited {r.returncode}: {r.stderr[-2000:]}")
        d = Dom()
        d.feed(r.stdout)
        # console messages chromium logs from the page: only errors matter
        # chromium logs every console message of the page as "...:INFO:CONSOLE:LINE] message", errors
        # included; the pages log nothing, so any such line is a failure
        d.console_errors = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
        return d

    def screenshot(self, url, path):
        r = subprocess.run(self._args() + ["--hide-scrollbars", "--window-size=1400,1100",
                                           f"--screenshot={path}", url],
                           capture_output=True, text=True, timeout=120)
        return r.returncode == 0 and os.path.exists(path) and os.path.getsize(path) > 0


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120)


def page_clean(d, name):
    b = d.body()
    check(b.get("data-ready") == "1", f"{name}: the page's script ran to the end")
    check(b.get("data-errors") == "0", f"{name}: no script or console errors ({b.get('data-error-text', '')})")
    check(not d.console_errors, f"{name}: chromium logged no console message {d.console_errors[:2]}")
    check(b.get("data-blocked") == "0", f"{name}: no load blocked by the page's CSP")
    check(b.get("data-resources") == "0", f"{name}: no request beyond the page itself")
    check(not d.find(id="pwned"), f"{name}: an untrusted span name injected no element")


def static_no_external(html, name):
    # the only URL in a page is the SVG namespace the script passes to createElementNS
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html)) - {"http://www.w3.org/2000/svg"}
    check(not urls, f"{name}: no external URL in the file {sorted(urls)[:3]}")
    check(not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", html, re.I),
          f"{name}: no element loading a src/href")


def test_critical_path(cli, db):
    r = run(cli, "critical-path", "--db", db, ANOM, "--json")
    if not check(r.returncode == 0, f"critical-path --json exits 0 ({r.stderr.strip()})"):
        return None
    cp = json.loads(r.stdout)
    t = 0
    tiled = True
    for seg in cp["path"]:
        tiled &= seg["from_ns"] == t
        t = seg["to_ns"]
    check(tiled and t == cp["latency_ns"], "critical path tiles the root's latency")
    check(cp["latency_ns"] == 50_000_000, "latency of the anomalous trace is 50 ms")
    by = {(s["component"], s["operation"], s["start_ns"]): s for s in cp["slack"]}
    audit = [s for s in cp["slack"] if s["operation"] == "audit"][0]
    check(audit["slack_ns"] is None and not audit["on_path"], "the child outliving the root: not waited on")
    fetch = sorted([s for s in cp["slack"] if s["operation"] == "fetch"], key=lambda s: s["duration_ns"])
    check([f["on_path"] for f in fetch] == [False, False, True], "fan-out: the longest fetch is on the path")
    check([f["slack_ns"] for f in fetch] == [2_000_000, 1_000_000, 0], "fan-out: slack 2 ms and 1 ms")
    est = [s for s in cp["path"] if s["estimated"]]
    check(est and all(s["component"] == "unresolved" for s in est) or not est,
          "estimated path time only in rebuilt spans")
    rebuilt = [s for s in cp["slack"] if s["estimated"]]
    check(len(rebuilt) == 1 and rebuilt[0]["component"] == "unresolved", "the rebuilt span is marked estimated")
    check(cp["components"][0]["component"] == "activator", "the activator holds the largest share")
    check(abs(sum(c["share"] for c in cp["components"]) - 1.0) < 0.01, "shares sum to 1")
    del by
    r = run(cli, "critical-path", "--db", db, ANOM)
    check(r.returncode == 0 and "critical path" in r.stdout and "share of the latency" in r.stdout,
          "critical-path text report")
    return cp


def test_view_pages(cli, db, out, br, cp):
    page = os.path.join(out, "view-trace.html")
    r = run(cli, "view", "--db", db, ANOM, "-o", page)
    if not check(r.returncode == 0, f"view writes the page ({r.stderr.strip()})"):
        return
    html = open(page, encoding="utf-8").read()
    static_no_external(html, "view page")
    check("<script>alert(1)</script>" not in html, "view page: the markup in a span name is escaped")
    d = br.dom("file://" + page)
    page_clean(d, "view page")
    n = len(cp["slack"])
    bars = d.find("rect", "bar")
    check(len(bars) == n, f"one bar per span ({len(bars)} bars, {n} spans)")
    on_path = sum(1 for s in cp["slack"] if s["on_path"])
    check(len(d.find("rect", "cp")) == on_path, f"critical-path bars marked ({on_path})")
    check(len(d.find("rect", "seg")) >= 1, "critical-path segments drawn")
    check(len(d.find("rect", "est")) == 1, "the rebuilt span's bar is drawn as estimated")
    check(len(d.find("rect", "band")) >= 5, "p50/p99 bands from the profiles")
    text = "".join(d.text)
    check("REBUILT (estimated)" in text, "the rebuilt span's estimate basis is in its hover text")
    check("evil<script>alert(1)</script>" in text, "the untrusted name is shown as text")
    check("outlier" in text and "cold_start" in text and "error" in text, "keep reasons shown")
    check(len(d.find("rect", "hbar")) > 0 and len(d.find("circle", "pt")) == 61,
          "latency histogram and time series of the root operation (the 61 checkout traces)")
    check(len(d.find("circle", "me")) == 1, "this trace marked in the time series")
    check(len(d.find("tr", "extra")) >= 1, "shape: the spans this trace has beyond the usual shape")
    shot = os.path.join(out, "view-trace.png")
    check(br.screenshot("file://" + page, shot), f"screenshot saved: {shot}")

    big = os.path.join(out, "view-big.html")
    t0 = time.monotonic()
    r = run(cli, "view", "--db", db, BIG, "-o", big)
    check(r.returncode == 0, "view of a 5001-span trace")
    d = br.dom("file://" + big)
    page_clean(d, "large page")
    g = d.find("svg", id="gantt")
    check(g and g[0].get("data-spans") == "5001", "large page: all 5001 spans in the model")
    rows = len(d.find("rect", "bar"))
    check(0 < rows <= 500, f"large page: at most one page of bars drawn ({rows})")
    check(int(d.find(id="pager")[0].get("data-pages", "0")) >= 1, "large page: pager present")
    check(time.monotonic() - t0 < 120, "large page: written and rendered in under two minutes")


def test_bad_input(cli, db, empty):
    r = run(cli, "critical-path", "--db", db, "00" * 16)
    check(r.returncode == 1 and "not found" in r.stderr, f"unknown trace id: {r.stderr.strip()}")
    r = run(cli, "view", "--db", empty, ANOM, "-o", os.devnull)
    check(r.returncode == 1 and "not found" in r.stderr, f"empty store: {r.stderr.strip()}")
    r = run(cli, "critical-path", "--db", "/nonexistent/x.db", ANOM)
    check(r.returncode == 1 and "/nonexistent/x.db" in r.stderr, f"missing store: {r.stderr.strip()}")
    r = run(cli, "critical-path", "--db", db, "xyz")
    check(r.returncode == 2 and "bad trace id" in r.stderr, f"bad trace id: {r.stderr.strip()}")
    r = run(cli, "view", "--db", db, ANOM)
    check(r.returncode == 2 and "-o" in r.stderr, f"view without -o: {r.stderr.strip()}")
    r = run(cli, "critical-path", "--db", db, ANOM, "--bogus")
    check(r.returncode == 2 and "--bogus" in r.stderr, f"unknown flag: {r.stderr.strip()}")
    r = run(cli, "serve", "--db", db, "--listen", "0.0.0.0:0")
    check(r.returncode == 2 and "loopback" in r.stderr, f"serve refuses a non-loopback address: {r.stderr.strip()}")
    r = run(cli, "serve", "--db", db, "--listen", "nohost")
    check(r.returncode == 2 and "--listen" in r.stderr, f"serve: bad --listen: {r.stderr.strip()}")


class Server:
    def __init__(self, cli, db):
        self.p = subprocess.Popen([cli, "serve", "--db", db, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            raise RuntimeError(f"difftrace serve did not start: {line!r} {self.p.stderr.read()}")
        self.base = f"http://127.0.0.1:{m.group(1)}"

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def test_serve(cli, db, empty, br, n_anom):
    s = Server(cli, db)
    try:
        d = br.dom(s.base + "/")
        page_clean(d, "served list")
        rows = d.find("tr", "trace")
        check(len(rows) == 62, f"list: every trace ({len(rows)})")
        check(len(d.find("tr", "atrace")) == 2, "list: the front page leads with the anomalous traces")
        d = br.dom(s.base + "/?anomalous=1")
        check(len(d.find("tr", "anom")) == len(d.find("tr", "trace")) == 2, "list: anomalous filter")
        d = br.dom(s.base + "/?reason=cold_start")
        check(len(d.find("tr", "trace")) == 1, "list: keep-reason filter")
        d = br.dom(s.base + "/?min_ms=45&service=activator")
        check(len(d.find("tr", "trace")) == 1, "list: min duration and service filters")
        d = br.dom(s.base + "/trace/" + ANOM)
        page_clean(d, "served trace page")
        check(len(d.find("rect", "bar")) == n_anom, "served trace page: one bar per span")
        links = [a.get("href") for a in d.find("a")]
        check("/" in links and "/api/trace/" + ANOM in links, "served trace page links back and to its JSON")
        st, ct, body = s.get("/api/traces?limit=5&from=1796457600&to=2026-12-05T08:00:06")
        j = json.loads(body)
        check(st == 200 and ct == "application/json" and len(j["traces"]) == 5, "JSON list with a time range")
        st, _, body = s.get("/api/trace/" + ANOM)
        check(st == 200 and len(json.loads(body)["spans"]) == n_anom, "JSON trace model")
        st, _, body = s.get("/api/critical-path/" + ANOM)
        check(st == 200 and json.loads(body)["latency_ns"] == 50_000_000, "JSON critical path")
        st, _, body = s.get("/api/trace/" + "00" * 16)
        check(st == 404 and "not found" in json.loads(body)["error"], "unknown trace id: 404 with a message")
        st, _, body = s.get("/trace/zz")
        check(st == 400 and "bad trace id" in body, "bad trace id: 400 page")
        st, _, body = s.get("/api/traces?min_ms=abc")
        check(st == 400 and "min_ms" in json.loads(body)["error"], "bad filter: 400 naming the parameter")
        st, _, _ = s.get("/nothing")
        check(st == 404, "unknown path: 404")
        req = urllib.request.Request(s.base + "/", data=b"x", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            check(False, "POST refused")
        except urllib.error.HTTPError as e:
            check(e.code == 405, "POST refused with 405")
    finally:
        s.stop()
    s = Server(cli, empty)
    try:
        d = br.dom(s.base + "/")
        page_clean(d, "served list of an empty store")
        check(len(d.find(id="empty")) == 1, "empty store: the list says so")
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    exe = chromium_bin()
    if not exe:
        print("SKIP: no chromium binary (Debian package chromium; scripts/setup-deps.sh --view installs it)")
        return 77
    cli = os.path.join(a.bindir, "difftrace")
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dft-view-") as tmp:
        db, empty = os.path.join(tmp, "view.db"), os.path.join(tmp, "empty.db")
        fx = os.path.join(a.bindir, "view_fixture")
        subprocess.run([fx, db], check=True, timeout=120)
        subprocess.run([fx, empty, "--empty"], check=True, timeout=60)
        br = Browser(exe, tmp)
        cp = test_critical_path(cli, db)
        if cp:
            test_view_pages(cli, db, a.out, br, cp)
        test_bad_input(cli, db, empty)
        test_serve(cli, db, empty, br, len(cp["slack"]) if cp else -1)
    if FAILED:
        print(f"{len(FAILED)} checks failed")
        return 1
    print("all view checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
