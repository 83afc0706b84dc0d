/* The trace view: reads the JSON model from <script id="dft-data"> and draws it. Every string
 * from the store goes into the page through textContent or setAttribute, never as markup. */
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var PAGE = 500, ROW = 18, LABEL = 340, KR = 150;
  var D = JSON.parse(document.getElementById('dft-data').textContent);
  var S = D.spans, N = S.length;
  var served = document.body.dataset.served === '1';

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function ms(ns) {
    var v = ns / 1e6;
    return (v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3)) + ' ms';
  }
  function pct(a, b) { return b ? (100 * a / b).toFixed(1) + '%' : '-'; }
  function $(id) { return document.getElementById(id); }

  /* ---- summary */
  var root = S[D.root];
  var nrec = 0, kept = {};
  S.forEach(function (s) { if (s.r) nrec++; s.kr.forEach(function (k) { kept[k] = (kept[k] || 0) + 1; }); });
  $('title').textContent = 'trace ' + D.trace_id;
  var sum = 'root ' + root.c + ' ' + root.o + ' \u2014 latency ' + ms(D.total_ns) + ' \u2014 ' + N + ' spans (' +
    (N - nrec) + ' reported, ' + nrec + ' rebuilt)';
  if (D.estimated_ns) sum += ' \u2014 ' + ms(D.estimated_ns) + ' (' + pct(D.estimated_ns, D.total_ns) +
    ') of the critical path is in rebuilt spans (estimated)';
  $('summary').textContent = sum;
  var kk = Object.keys(kept).map(function (k) { return k + ' ' + kept[k]; });
  $('kept').textContent = kk.length ? 'keep reasons: ' + kk.join(', ') : 'no keep reasons recorded';
  if (D.detached) $('kept').textContent += ' \u2014 ' + D.detached + ' spans are not under the root';
  if (D.truncated) $('kept').textContent += ' \u2014 the trace has more spans than shown';

  /* ---- shares of the critical path per component */
  var palette = ['#4a7fc1', '#e8833a', '#5aa469', '#b45fa8', '#c9b23b', '#52a8b8', '#8c6d4f', '#d0312d', '#777'];
  var bar = $('sharebar'), tb = $('shares');
  D.shares.forEach(function (sh, k) {
    var col = palette[k % palette.length];
    var d = el('div', { title: sh.c + ': ' + ms(sh.ns) + ' (' + pct(sh.ns, D.total_ns) + ')' });
    d.style.width = (100 * sh.ns / Math.max(D.total_ns, 1)) + '%';
    d.style.background = col;
    bar.appendChild(d);
    var tr = el('tr');
    var sw = el('span', { class: 'sw' }); sw.style.background = col;
    var td = el('td'); td.appendChild(sw); td.appendChild(document.createTextNode(sh.c));
    tr.appendChild(td);
    tr.appendChild(el('td', { class: 'num' }, ms(sh.ns)));
    tr.appendChild(el('td', { class: 'num' }, pct(sh.ns, D.total_ns)));
    tr.appendChild(el('td', { class: 'num' }, sh.est ? ms(sh.est) + ' estimated' : ''));
    tb.appendChild(tr);
  });

  /* ---- tree order, depth, collapse */
  var kids = S.map(function () { return []; });
  S.forEach(function (s) { if (s.p >= 0 && s.p !== s.i) kids[s.p].push(s.i); });
  kids.forEach(function (k) { k.sort(function (a, b) { return S[a].s - S[b].s || a - b; }); });
  var depth = new Int32Array(N), seen = new Uint8Array(N), order = [];
  function walk(r) {
    var st = [[r, 0]];
    while (st.length) {
      var t = st.pop(), i = t[0];
      if (seen[i]) continue;
      seen[i] = 1; depth[i] = t[1]; order.push(i);
      for (var k = kids[i].length - 1; k >= 0; k--) st.push([kids[i][k], t[1] + 1]);
    }
  }
  walk(D.root);
  for (var i = 0; i < N; i++) if (!seen[i] && (S[i].p < 0 || S[i].p === i)) walk(i);
  for (i = 0; i < N; i++) if (!seen[i]) walk(i); /* cycles */
  var collapsed = new Uint8Array(N), page = 0, sel = -1;
  /* a huge trace opens with everything under the root's children folded */
  if (N > PAGE) kids[D.root].forEach(function (c) { if (kids[c].length) collapsed[c] = 1; });

  function visible() {
    var out = [], skip = -1;
    for (var k = 0; k < order.length; k++) {
      var j = order[k];
      if (skip >= 0 && depth[j] > skip) continue;
      skip = -1;
      out.push(j);
      if (collapsed[j] && kids[j].length) skip = depth[j];
    }
    return out;
  }
  function countUnder(i) {
    var n = 0, st = kids[i].slice();
    while (st.length) { var j = st.pop(); n++; Array.prototype.push.apply(st, kids[j]); }
    return n;
  }

  var segsBy = {};
  D.segments.forEach(function (g) { (segsBy[g[0]] = segsBy[g[0]] || []).push(g); });
  var tmax = 0;
  S.forEach(function (s) { tmax = Math.max(tmax, s.s + s.d, s.s + (s.p99 || 0)); });
  tmax = Math.max(tmax, 1);
  var v0 = 0, v1 = tmax; /* the time window shown: double-click a row zooms to its span */

  function tip(s) {
    var t = s.c + ' ' + s.o + '\nspan ' + s.id + '\nstart +' + ms(s.s - D.root_offset_ns) + ', duration ' +
      (s.r ? '~' : '') + ms(s.d);
    if (s.q) t += ', queued ' + ms(s.q);
    if (s.st === 2) t += '\nstatus ERROR';
    if (s.kr.length) t += '\nkept: ' + s.kr.join(', ');
    if (s.p50 !== undefined) {
      t += '\nprofile: p50 ' + ms(s.p50) + ', p99 ' + ms(s.p99) + ' (' + s.pn + ' spans)';
      if (s.p50 > 0) t += '; this one ' + (s.d / s.p50).toFixed(1) + '\u00d7 p50' + (s.d > s.p99 ? ', above p99' : '');
    }
    t += s.cp ? '\non the critical path: ' + ms(s.self) + ' of its own time' :
      s.slack === null ? '\nnot waited on by its parent' : '\nslack ' + ms(s.slack);
    if (s.r) t += '\nREBUILT (estimated): ' + s.basis;
    return t;
  }

  function draw() {
    var vis = visible(), pages = Math.max(1, Math.ceil(vis.length / PAGE));
    if (page >= pages) page = pages - 1;
    var rows = vis.slice(page * PAGE, (page + 1) * PAGE);
    var wrap = $('gantt-wrap');
    var W = Math.max(900, wrap.clientWidth - 2), CW = W - LABEL - KR;
    var H = 24 + rows.length * ROW;
    var x = function (ns) { return LABEL + CW * Math.min(Math.max((ns - v0) / (v1 - v0), -0.01), 1.01); };
    var svg = sv('svg', { id: 'gantt', width: W, height: H, 'data-rows': rows.length, 'data-spans': N });
    var defs = sv('defs'), pat = sv('pattern', { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse',
      patternTransform: 'rotate(45)' });
    pat.appendChild(sv('rect', { width: 6, height: 6, fill: '#fff' }));
    pat.appendChild(sv('rect', { width: 3, height: 6, fill: '#b9c3cc' }));
    defs.appendChild(pat); svg.appendChild(defs);
    for (var t = 0; t <= 10; t++) {
      var tx = LABEL + CW * t / 10;
      svg.appendChild(sv('line', { class: 'tick', x1: tx, x2: tx, y1: 14, y2: H }));
      svg.appendChild(sv('text', { class: 'tick', x: tx + 2, y: 11 }, ms(v0 + (v1 - v0) * t / 10)));
    }
    rows.forEach(function (i, r) {
      var s = S[i], y = 20 + r * ROW;
      var g = sv('g', { class: 'row' + (i === sel ? ' sel' : ''), 'data-i': i });
      g.appendChild(sv('rect', { class: 'bg', x: 0, y: y - 1, width: W, height: ROW }));
      var ind = Math.min(depth[i], 30) * 10;
      if (kids[i].length) {
        var tg = sv('text', { class: 'tog', x: 2 + ind, y: y + 12 }, collapsed[i] ? '\u25b8' : '\u25be');
        tg.addEventListener('click', function (ev) { ev.stopPropagation(); collapsed[i] ^= 1; draw(); });
        g.appendChild(tg);
      }
      var lab = s.c + ' ' + s.o;
      if (lab.length > 40) lab = lab.slice(0, 39) + '\u2026';
      if (collapsed[i] && kids[i].length) lab += ' (+' + countUnder(i) + ')';
      g.appendChild(sv('text', { x: 14 + ind, y: y + 12 }, lab));
      if (s.p50 !== undefined) {
        var b0 = x(s.s + s.p50), b1 = x(s.s + Math.max(s.p99, s.p50));
        g.appendChild(sv('rect', { class: 'band', x: b0, y: y + 1, width: Math.max(b1 - b0, 1), height: ROW - 4 }));
        g.appendChild(sv('line', { class: 'p50', x1: b0, x2: b0, y1: y, y2: y + ROW - 2 }));
      }
      var cls = 'bar' + (s.k === 2 ? ' fn' : '') + (s.st === 2 ? ' err' : '') + (s.r ? ' est' : '') + (s.cp ? ' cp' : '');
      var rect = sv('rect', { class: cls, x: x(s.s), y: y + 3, width: Math.max(x(s.s + s.d) - x(s.s), 1.5),
        height: ROW - 8, 'data-span': s.id });
      rect.appendChild(sv('title', {}, tip(s)));
      g.appendChild(rect);
      (segsBy[i] || []).forEach(function (sg) {
        g.appendChild(sv('rect', { class: 'seg', x: x(sg[1]), y: y + ROW - 5, width: Math.max(x(sg[2]) - x(sg[1]), 1),
          height: 2 }));
      });
      if (s.kr.length) g.appendChild(sv('text', { class: 'kr', x: LABEL + CW + 6, y: y + 12 }, s.kr.join(',')));
      g.addEventListener('click', function () { sel = i; detail(s); draw(); });
      g.addEventListener('dblclick', function () {
        var pad = Math.max(s.d * 0.05, 1000);
        v0 = Math.max(0, s.s - pad); v1 = s.s + Math.max(s.d, 1000) + pad; draw();
      });
      svg.appendChild(g);
    });
    var old = $('gantt');
    if (old) old.remove();
    wrap.appendChild(svg);
    $('pageinfo').textContent = vis.length ? 'rows ' + (page * PAGE + 1) + '\u2013' + (page * PAGE + rows.length) +
      ' of ' + vis.length + ' shown (' + N + ' spans; \u25b8 folds, click a row for details, double-click zooms to it)' :
      'no spans';
    $('prev').disabled = page === 0;
    $('next').disabled = page >= pages - 1;
    $('pager').dataset.pages = pages;
  }
  function detail(s) { $('detail').textContent = tip(s); }
  $('prev').addEventListener('click', function () { page--; draw(); });
  $('next').addEventListener('click', function () { page++; draw(); });
  $('expand').addEventListener('click', function () { collapsed.fill(0); draw(); });
  $('unzoom').addEventListener('click', function () { v0 = 0; v1 = tmax; draw(); });
  $('collapse').addEventListener('click', function () {
    collapsed.fill(0); kids[D.root].forEach(function (c) { if (kids[c].length) collapsed[c] = 1; }); draw();
  });
  draw();

  /* ---- temporal context: the root operation's latencies around this trace */
  function context() {
    var C = D.context;
    if (!C) { $('ctx-note').textContent = 'no context in this page'; return; }
    var pts = C.points, me = D.total_ns;
    if (!pts.length) { $('ctx-note').textContent = 'no other traces of this root operation stored'; return; }
    var below = pts.filter(function (p) { return p[1] <= me; }).length;
    $('ctx-note').textContent = pts.length + ' traces with root ' + C.c + ' ' + C.o + ' within \u00b1' +
      Math.round(C.window_ns / 6e10) + ' min; this one is slower than ' + pct(below - 1 < 0 ? 0 : below - 1, pts.length) +
      ' of them (median ' + ms(pts.map(function (p) { return p[1]; }).sort(function (a, b) { return a - b; })[pts.length >> 1]) + ')';
    var lo = Infinity, hi = 0;
    pts.forEach(function (p) { lo = Math.min(lo, Math.max(p[1], 1)); hi = Math.max(hi, p[1]); });
    lo = Math.min(lo, Math.max(me, 1)); hi = Math.max(hi, me, lo * 1.01);
    var L0 = Math.log10(lo), L1 = Math.log10(hi), NB = 30, bins = new Array(NB).fill(0);
    var bin = function (v) { return Math.min(NB - 1, Math.floor(NB * (Math.log10(Math.max(v, 1)) - L0) / (L1 - L0))); };
    pts.forEach(function (p) { bins[bin(p[1])]++; });
    var bmax = Math.max.apply(null, bins), W = 420, H = 160;
    var h = sv('svg', { id: 'hist', width: W, height: H + 30 });
    bins.forEach(function (c, k) {
      var bh = (H - 10) * c / bmax;
      var r = sv('rect', { class: 'hbar' + (k === bin(me) ? ' me' : ''), x: 10 + k * (W - 20) / NB, y: H - bh,
        width: (W - 20) / NB - 1, height: bh });
      r.appendChild(sv('title', {}, c + ' traces around ' + ms(Math.pow(10, L0 + (k + .5) * (L1 - L0) / NB))));
      h.appendChild(r);
    });
    var mx = 10 + (W - 20) * (Math.log10(Math.max(me, 1)) - L0) / (L1 - L0);
    var ml = sv('line', { class: 'me', x1: mx, x2: mx, y1: 5, y2: H });
    ml.appendChild(sv('title', {}, 'this trace: ' + ms(me)));
    h.appendChild(ml);
    h.appendChild(sv('text', { x: 10, y: H + 14 }, ms(lo)));
    h.appendChild(sv('text', { x: W - 70, y: H + 14 }, ms(hi)));
    h.appendChild(sv('text', { x: 10, y: H + 28, class: 'tick' }, 'latency (log scale); red: this trace'));
    $('ctx').appendChild(h);
    var t0 = Infinity, t1 = -Infinity;
    pts.forEach(function (p) { t0 = Math.min(t0, p[0]); t1 = Math.max(t1, p[0]); });
    if (t1 <= t0) t1 = t0 + 1;
    var ts = sv('svg', { id: 'series', width: 520, height: H + 30 });
    var yv = function (v) { return H - 5 - (H - 15) * (Math.log10(Math.max(v, 1)) - L0) / (L1 - L0); };
    pts.forEach(function (p) {
      var isme = p[2] === D.trace_id;
      var c = sv('circle', { class: 'pt' + (isme ? ' me' : ''), cx: 10 + 500 * (p[0] - t0) / (t1 - t0), cy: yv(p[1]),
        r: isme ? 5 : 2 });
      c.appendChild(sv('title', {}, 'trace ' + p[2] + ': ' + ms(p[1]) + (served ? ' (click to open)' : '')));
      if (served && !isme && /^[0-9a-f]{32}$/.test(p[2])) {
        c.style.cursor = 'pointer';
        c.addEventListener('click', function () { window.location.href = '/trace/' + p[2]; });
      }
      ts.appendChild(c);
    });
    ts.appendChild(sv('text', { x: 10, y: H + 14 }, (p0s(t0)) + ' s'));
    ts.appendChild(sv('text', { x: 460, y: H + 14 }, '+' + (p0s(t1)) + ' s'));
    ts.appendChild(sv('text', { x: 10, y: H + 28, class: 'tick' }, 'start relative to this trace; y: latency (log)'));
    $('ctx').appendChild(ts);
  }
  function p0s(ns) { return (ns / 1e9).toFixed(1); }

  /* ---- structural context: this trace's names against the usual shape */
  function shape() {
    var C = D.context;
    if (!C) return;
    var sh = C.shape, tb = $('shape');
    $('shape-note').textContent = sh.traces ? sh.same + ' of the ' + sh.traces +
      ' nearest traces of this root operation have exactly this shape (names and counts, rebuilt spans included)' :
      'no other traces to compare with';
    var rows = sh.rows.slice().sort(function (a, b) {
      return (b.here !== b.usual) - (a.here !== a.usual) || (a.c + a.o < b.c + b.o ? -1 : 1);
    });
    rows.forEach(function (r) {
      var diff = !sh.traces ? '' : r.here < r.usual ? 'missing ' + (r.usual - r.here) :
        r.here > r.usual ? 'extra ' + (r.here - r.usual) : '';
      var tr = el('tr', { class: diff.indexOf('missing') === 0 ? 'missing' : diff ? 'extra' : '' });
      tr.appendChild(el('td', {}, r.c));
      tr.appendChild(el('td', {}, r.o));
      tr.appendChild(el('td', { class: 'num' }, String(r.here)));
      tr.appendChild(el('td', { class: 'num' }, sh.traces ? String(r.usual) : '-'));
      tr.appendChild(el('td', { class: 'num' }, sh.traces ? pct(r.present, sh.traces) : '-'));
      tr.appendChild(el('td', {}, diff));
      tb.appendChild(tr);
    });
  }
  try { context(); } catch (e) { window.__dft.errors.push('context: ' + e); }
  try { shape(); } catch (e) { window.__dft.errors.push('shape: ' + e); }
  document.body.dataset.ready = '1';
  window.__dft.publish();
})();
