#!/usr/bin/env python3
"""A Knative-shaped serverless workload written as an OpenTelemetry recording, with its ground truth.

Independent of difftrace-gen: written from the shape of a Knative request path, for evaluating
difftrace against traffic it was not tuned to (docs/evaluation.md, "The evaluation matrix").

Every call of a function goes ingress-gateway -> activator -> queue-proxy -> the function, each
platform component with its own span and step spans (route matching, authorisation, throttling...)
that it finishes before it forwards the request. A function may call other functions, each call
through the callee's own ingress/activator/queue-proxy chain. Hot functions take most of the
traffic; long-tail functions get fewer than one call per second (their per-function platform keys
never see 20 spans in a short recording).

Anomalies, from the first request on (no anomaly-free warm-up):
  error           a platform span (component span or step) ends with status ERROR; the request
                  goes no further down the chain
  queueing        difftrace.queue_ns of 10-200 ms on the activator or queue-proxy span, spent
                  in that span before it forwards
  cold_start      difftrace.cold_start on the activator and queue-proxy spans; the activator waits
                  0.3-1.5 s for a pod, the queue-proxy 5-50 ms for the container; also every
                  function's first call
  function_error  the function span ends with status ERROR (its remaining nested calls skipped)
  delay           one platform hop (component span or step) delayed 20-100 ms in its own time:
                  the spans that wrap it get longer too, their own time does not
Contention is not expressed: an OTLP recording carries spans only, and difftrace-replay has no way
to publish a component's metrics page (docs/evaluation.md).

Rate: for each kind, the top-level calls of exactly max(3, round(rate * requests)) requests carry
it, no two kinds on one request (so every kind is measured even at 0.1 %), and every nested call
carries each kind with probability `rate`. A nested call may carry several kinds.

Latency outliers by definition (issue 10): a span whose own time -- its duration minus the union
of its children's intervals -- is >= 10x the median own time of its key's (component, operation)
earlier spans, counted once the key has seen 20 spans, in end-time order. Natural ones (a heavy
tail) count as much as injected ones; the truth labels every such span "outlier".

Outputs:
  --otlp FILE   OTLP JSON lines (one ExportTraceServiceRequest per 100 ms of end times), spans in
                end-time order, resource attributes service.name and difftrace.component.kind
  --truth FILE  one JSON line per span, the format `difftrace eval --truth` reads, plus
                "kinds": every label of the span, "self_ns": its own time
  --meta FILE   the parameters and counts (one JSON object)
Deterministic: the same arguments give byte-identical files.
"""
import argparse
import bisect
import hashlib
import json
import math
import random
import sys

BASE_NS = 1_767_225_600 * 1_000_000_000  # recorded times start here (fixed: the files are reproducible)
MS = 1_000_000
US = 1_000

KINDS = ("error", "queueing", "cold_start", "function_error", "delay")
MIN_PER_KIND = 3
OUTLIER_FACTOR = 10
OUTLIER_MIN_SEEN = 20

# (component, span name, median own time ns, steps: [(name, median ns)])
INGRESS = ("ingress-gateway", "route", 300 * US, [("route.match", 40 * US), ("authz", 80 * US), ("ratelimit", 25 * US)])
ACTIVATOR = ("activator", "proxy", 200 * US, [("throttle", 30 * US), ("pick-pod", 50 * US)])
QUEUE_PROXY = ("queue-proxy", "queue", 150 * US, [("admit", 20 * US), ("breaker", 35 * US)])
CHAIN = (INGRESS, ACTIVATOR, QUEUE_PROXY)
PER_FUNCTION_OPS = {"ingress-gateway", "queue-proxy"}  # their span name names the function's route/revision

# name -> (median work ns, [(callee, probability)], entry share of the hot traffic or None,
#          calls/s for a long-tail function or None)
FUNCTIONS = {
    "frontend": (6 * MS, [("auth", 1.0), ("catalog", 0.6)], 0.40, None),
    "catalog": (4 * MS, [("thumbnail", 0.3)], 0.30, None),
    "thumbnail": (9 * MS, [], 0.18, None),
    "auth": (2 * MS, [], 0.12, None),
    "report-export": (25 * MS, [("invoice-render", 1.0)], None, 0.4),
    "invoice-render": (12 * MS, [], None, 0.3),
    "billing-sync": (15 * MS, [], None, 0.5),
    "audit-log": (3 * MS, [], None, 0.8),
    "geo-lookup": (5 * MS, [], None, 0.6),
    "webhook-retry": (8 * MS, [], None, 0.2),
}


class Shape:
    """Own-time distributions with a given median."""

    def __init__(self, name, rnd):
        self.name = name
        self.rnd = rnd

    def draw(self, median):
        r = self.rnd
        if self.name == "lognormal":
            v = median * math.exp(0.5 * r.gauss(0, 1))
        elif self.name == "pareto":
            alpha = 2.5  # P(X >= 10 x median) = 10^-alpha / 2 ~ 0.16 %: natural outliers exist
            xm = median / 2 ** (1 / alpha)
            v = min(xm * (1 - r.random()) ** (-1 / alpha), 1000 * median)
        elif self.name == "bimodal":
            v = median * math.exp(0.2 * r.gauss(0, 1))
            if r.random() < 0.2:
                v *= 5  # a slow path: 20 % of calls at ~5x
        else:
            raise ValueError(self.name)
        return max(int(v), 1 * US)


class Workload:
    def __init__(self, seed, shape, rate, seconds, rps):
        self.seed = seed
        self.rate = rate
        self.seconds = seconds
        self.rps = rps
        self.rnd = random.Random(f"{seed}/structure")
        self.arnd = random.Random(f"{seed}/anomalies")
        # ids differ between recordings of different parameters: two of them can share one store
        self.idrnd = random.Random(f"{seed}/{shape}/{rate}/{seconds}/{rps}/ids")
        self.shape = Shape(shape, self.rnd)
        self.spans = []
        self.used_ids = set()
        self.seen_functions = set()
        self.calls = 0
        self.requests = 0
        self.injected = {k: 0 for k in KINDS}  # calls that carried each kind
        self.first_call_cold = 0

    # ---- ids and spans
    def new_id(self):
        while True:
            v = self.idrnd.getrandbits(64)
            if v and v not in self.used_ids:
                self.used_ids.add(v)
                return "%016x" % v

    def span(self, trace, parent, comp, ckind, name, start, skind):
        s = {"trace": trace, "id": self.new_id(), "parent": parent, "component": comp, "ckind": ckind,
             "name": name, "start": start, "end": None, "status": 0, "queue": 0, "cold": False,
             "skind": skind, "kinds": set()}
        self.spans.append(s)
        return s

    # ---- anomalies of one call: kind -> where
    def plan_call(self, fn, forced):
        an = {}
        if forced is None:
            kinds = {k for k in KINDS if self.arnd.random() < self.rate}
        else:
            kinds = set(forced)
        if fn not in self.seen_functions:
            self.seen_functions.add(fn)
            if "cold_start" not in kinds:
                self.first_call_cold += 1
            kinds.add("cold_start")
        for k in [k for k in KINDS if k in kinds]:  # a set's order changes with the hash seed: fixed order
            if k in ("error", "delay"):
                positions = [(lvl, None) for lvl in range(3)] + [
                    (lvl, j) for lvl in range(3) for j in range(len(CHAIN[lvl][3]))]
                an[k] = self.arnd.choice(positions)
            elif k == "queueing":
                an[k] = self.arnd.choice((1, 2))
            else:
                an[k] = True
        for k in an:
            self.injected[k] += 1
        an["_delay_ns"] = self.arnd.randint(20 * MS, 100 * MS)
        an["_queue_ns"] = self.arnd.randint(10 * MS, 200 * MS)
        an["_cold_ns"] = self.arnd.randint(300 * MS, 1500 * MS)
        an["_qp_cold_ns"] = self.arnd.randint(5 * MS, 50 * MS)
        return an

    # ---- a call: the platform chain, then the function
    def call(self, trace, fn, t, parent, forced=None):
        self.calls += 1
        an = self.plan_call(fn, forced)
        return self.hop(trace, fn, 0, t, parent, an)

    def hop(self, trace, fn, lvl, t, parent, an):
        comp, op, med, steps = CHAIN[lvl]
        name = f"{op} {fn}" if comp in PER_FUNCTION_OPS else op
        s = self.span(trace, parent, comp, "platform", name, t, 2)
        cursor = t + self.shape.draw(5 * US)
        for j, (sname, smed) in enumerate(steps):
            st = self.span(trace, s["id"], comp, "platform", sname, cursor, 1)
            d = self.shape.draw(smed)
            if an.get("delay") == (lvl, j):
                d += an["_delay_ns"]
                st["kinds"].add("delay")
            st["end"] = cursor + d
            if an.get("error") == (lvl, j):
                st["status"] = 2
                st["kinds"].add("error")
                s["end"] = st["end"] + self.shape.draw(med // 3)
                return s["end"]
            cursor = st["end"] + self.shape.draw(3 * US)
        own = self.shape.draw(med)
        pre, post = own * 6 // 10, own - own * 6 // 10 + 1 * US
        if comp in ("activator", "queue-proxy"):
            q = self.shape.draw(30 * US)
            if an.get("queueing") == lvl:
                q = an["_queue_ns"]
                s["kinds"].add("queueing")
            s["queue"] = q
            pre += q
        if an.get("delay") == (lvl, None):
            pre += an["_delay_ns"]
            s["kinds"].add("delay")
        if an.get("cold_start") and comp == "activator":
            pre += an["_cold_ns"]
            s["cold"] = True
            s["kinds"].add("cold_start")
        if an.get("cold_start") and comp == "queue-proxy":
            pre += an["_qp_cold_ns"]
            s["cold"] = True
            s["kinds"].add("cold_start")
        if an.get("error") == (lvl, None):
            s["status"] = 2
            s["kinds"].add("error")
            s["end"] = cursor + pre + post
            return s["end"]
        fwd = cursor + pre
        if lvl < 2:
            inner_end = self.hop(trace, fn, lvl + 1, fwd, s["id"], an)
        else:
            inner_end = self.function(trace, fn, fwd, s["id"], an)
        s["end"] = inner_end + post
        return s["end"]

    def function(self, trace, fn, t, parent, an):
        work_med, callees, _, _ = FUNCTIONS[fn]
        s = self.span(trace, parent, fn, "function", "handle", t, 2)
        calls = [c for c, p in callees if self.rnd.random() < p]
        work = self.shape.draw(work_med)
        cuts = sorted(self.rnd.random() for _ in calls)
        fail_at = len(calls)
        if an.get("function_error"):
            s["status"] = 2
            s["kinds"].add("function_error")
            fail_at = self.arnd.randint(0, len(calls))
        cursor, done = t, 0.0
        for i, callee in enumerate(calls):
            if i >= fail_at:
                break
            cursor += int(work * (cuts[i] - done))
            done = cuts[i]
            cursor = self.call(trace, callee, cursor + 2 * US, s["id"]) + 2 * US
        cursor += max(int(work * (1 - done)), 1 * US)
        s["end"] = cursor
        return cursor

    # ---- arrivals
    def arrivals(self):
        out = []
        horizon = self.seconds * 1e9
        for fn, (_, _, share, lt_rate) in FUNCTIONS.items():
            rate = self.rps * share if share else lt_rate
            if not rate:
                continue
            t = self.rnd.expovariate(rate) * 1e9
            while t < horizon:
                out.append((int(t), fn))
                t += self.rnd.expovariate(rate) * 1e9
        out.sort()
        return out

    def build(self):
        reqs = self.arrivals()
        self.requests = len(reqs)
        forced = [set() for _ in reqs]
        # disjoint: an error forced on the same request would hide its function error
        n = max(MIN_PER_KIND, round(self.rate * len(reqs)))
        picked = self.arnd.sample(range(len(reqs)), min(n * len(KINDS), len(reqs)))
        for j, i in enumerate(picked):
            forced[i].add(KINDS[j % len(KINDS)])
        for i, (t, fn) in enumerate(reqs):
            trace = "%032x" % self.idrnd.getrandbits(128)
            self.call(trace, fn, BASE_NS + t, "", forced[i])
        self.check()
        self.label_outliers()

    def check(self):
        """Every span inside its parent, every parent in its trace, ids unique."""
        by_id = {(s["trace"], s["id"]): s for s in self.spans}
        assert len(by_id) == len(self.spans), "span ids repeat"
        for s in self.spans:
            assert s["end"] is not None and s["start"] < s["end"], s
            if s["parent"]:
                p = by_id[(s["trace"], s["parent"])]
                assert p["start"] <= s["start"] and s["end"] < p["end"], (p, s)

    # ---- the definition
    def label_outliers(self):
        children = {}
        for s in self.spans:
            if s["parent"]:
                children.setdefault((s["trace"], s["parent"]), []).append((s["start"], s["end"]))
        for s in self.spans:
            covered, cur_s, cur_e = 0, None, None
            for a, b in sorted(children.get((s["trace"], s["id"]), ())):
                a, b = max(a, s["start"]), min(b, s["end"])
                if b <= a:
                    continue
                if cur_e is None or a > cur_e:
                    if cur_e is not None:
                        covered += cur_e - cur_s
                    cur_s, cur_e = a, b
                else:
                    cur_e = max(cur_e, b)
            if cur_e is not None:
                covered += cur_e - cur_s
            s["self"] = s["end"] - s["start"] - covered
        seen = {}
        for s in sorted(self.spans, key=end_order):
            key = (s["component"], s["name"])
            v = seen.setdefault(key, [])
            if len(v) >= OUTLIER_MIN_SEEN:
                n = len(v)
                med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
                if s["self"] >= OUTLIER_FACTOR * med:
                    s["kinds"].add("outlier")
            bisect.insort(v, s["self"])


def end_order(s):
    """The order difftrace-replay --speed emits spans in (dft_replay_sort_by_end)."""
    return (s["end"], 1 if not s["parent"] else 0, -s["start"], int(s["id"], 16), s["trace"])


def otlp_line(spans):
    by_comp = {}
    for s in spans:
        by_comp.setdefault((s["component"], s["ckind"]), []).append(s)
    rss = []
    for (comp, ckind), group in by_comp.items():
        out = []
        for s in group:
            attrs = []
            if s["queue"]:
                attrs.append({"key": "difftrace.queue_ns", "value": {"intValue": str(s["queue"])}})
            if s["cold"]:
                attrs.append({"key": "difftrace.cold_start", "value": {"boolValue": True}})
            j = {"traceId": s["trace"], "spanId": s["id"], "parentSpanId": s["parent"], "name": s["name"],
                 "kind": s["skind"], "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
                 "attributes": attrs}
            if s["status"]:
                j["status"] = {"code": s["status"]}
            out.append(j)
        rss.append({"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": comp}},
            {"key": "difftrace.component.kind", "value": {"stringValue": ckind}}]},
            "scopeSpans": [{"scope": {"name": "knative-recorder"}, "spans": out}]})
    return json.dumps({"resourceSpans": rss}, separators=(",", ":"))


def write(w, otlp, truth, meta, args):
    spans = sorted(w.spans, key=end_order)
    with open(otlp, "w") as f:
        line, window = [], None
        for s in spans:
            win = (s["end"] - BASE_NS) // (100 * MS)
            if line and (win != window or len(line) >= 2000):
                f.write(otlp_line(line) + "\n")
                line = []
            window = win
            line.append(s)
        if line:
            f.write(otlp_line(line) + "\n")
    counts = {}
    with open(truth, "w") as f:
        for s in spans:
            kinds = sorted(s["kinds"])
            for k in kinds:
                counts[k] = counts.get(k, 0) + 1
            f.write(json.dumps({
                "trace_id": s["trace"], "span_id": s["id"], "parent_span_id": s["parent"] or "0" * 16,
                "component": s["component"], "operation": s["name"], "kind": s["ckind"],
                "start_ns": s["start"], "end_ns": s["end"], "anomalous": bool(kinds),
                "anomaly": kinds[0] if kinds else None, "kinds": kinds, "self_ns": s["self"]},
                separators=(",", ":")) + "\n")
    keys = {}
    for s in spans:
        keys[(s["component"], s["name"])] = keys.get((s["component"], s["name"]), 0) + 1
    m = {"seed": args.seed, "shape": args.shape, "anomaly_rate": args.anomaly_rate, "seconds": args.seconds,
         "rps": args.rps, "requests": w.requests, "calls": w.calls, "spans": len(spans),
         "platform_spans": sum(1 for s in spans if s["ckind"] == "platform"),
         "traces": w.requests, "calls_with_kind": w.injected, "first_call_cold_starts": w.first_call_cold,
         "spans_with_label": counts, "keys": len(keys),
         "keys_under_20_spans": sum(1 for v in keys.values() if v < OUTLIER_MIN_SEEN),
         "recorded_ns": max(s["end"] for s in spans) - BASE_NS,
         "digest": hashlib.sha256(open(otlp, "rb").read()).hexdigest()[:16]}
    if meta:
        with open(meta, "w") as f:
            json.dump(m, f, indent=1, sort_keys=True)
            f.write("\n")
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shape", choices=("lognormal", "pareto", "bimodal"), default="lognormal")
    ap.add_argument("--anomaly-rate", type=float, default=0.01, help="per call and kind, 0..1 (default 0.01)")
    ap.add_argument("--seconds", type=float, default=15.0, help="recorded time of the arrivals")
    ap.add_argument("--rps", type=float, default=100.0, help="requests/s to the hot functions")
    ap.add_argument("--otlp", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--meta")
    a = ap.parse_args()
    if not 0 <= a.anomaly_rate <= 0.2:
        ap.error("--anomaly-rate must be within 0..0.2")
    w = Workload(a.seed, a.shape, a.anomaly_rate, a.seconds, a.rps)
    w.build()
    m = write(w, a.otlp, a.truth, a.meta, a)
    print(json.dumps(m, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
