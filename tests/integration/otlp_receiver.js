// SPDX-License-Identifier: MIT
// An OTLP/HTTP trace receiver for the tests: decodes every `POST /v1/traces` body with the official
// OTLP definitions (@opentelemetry/otlp-transformer's protobufjs build of opentelemetry-proto) and
// appends one JSON line per accepted request to --out: {"gzip": bool, "bytes": N, "spans": [...]},
// each span flattened with its resource's service.name, ids in lowercase hex and times as strings.
//
//   node otlp_receiver.js --root ROOT_JS --port-file F --out F [--mode ok|retry:N|slow:MS]
//     ok        answer 200 with an empty ExportTraceServiceResponse
//     retry:N   answer the first N requests 503 with Retry-After: 1, then 200
//     slow:MS   answer 200 after MS milliseconds
// A body that does not decode is answered 400 and recorded as {"error": "..."}; the test fails on it.
'use strict';
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const root = require(args.root);
const v1 = root.opentelemetry.proto.collector.trace.v1;
const Req = v1.ExportTraceServiceRequest;
const Resp = v1.ExportTraceServiceResponse;
const mode = args.mode || 'ok';
let refuse = mode.startsWith('retry:') ? parseInt(mode.slice(6), 10) : 0;
const delay = mode.startsWith('slow:') ? parseInt(mode.slice(5), 10) : 0;
const hex = (b) => Buffer.from(b || []).toString('hex');

function anyValue(v) {
  if (v.stringValue !== undefined && v.stringValue !== null && v.stringValue !== '') return v.stringValue;
  if (v.boolValue) return true;
  if (v.intValue !== undefined && v.intValue !== null) return String(v.intValue);
  if (v.stringValue === '') return '';
  return null;
}

function flatten(msg) {
  const o = Req.toObject(msg, { longs: String, enums: Number, defaults: true, arrays: true });
  const spans = [];
  for (const rs of o.resourceSpans) {
    const res = {};
    for (const kv of rs.resource.attributes) res[kv.key] = anyValue(kv.value);
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        const attrs = {};
        for (const kv of s.attributes) attrs[kv.key] = anyValue(kv.value);
        spans.push({
          service: res['service.name'], component_kind: res['difftrace.component.kind'],
          scope: ss.scope ? ss.scope.name : '', trace_id: hex(s.traceId), span_id: hex(s.spanId),
          parent_span_id: hex(s.parentSpanId), name: s.name, kind: s.kind,
          start: s.startTimeUnixNano, end: s.endTimeUnixNano, attrs,
          status_code: s.status ? s.status.code : 0, status_message: s.status ? s.status.message : '',
        });
      }
    }
  }
  return { resources: o.resourceSpans.length, spans };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces' ||
        req.headers['content-type'] !== 'application/x-protobuf') {
      fs.appendFileSync(args.out, JSON.stringify({ error: `${req.method} ${req.url} ${req.headers['content-type']}` }) + '\n');
      res.writeHead(404);
      res.end();
      return;
    }
    if (refuse > 0) {
      refuse--;
      fs.appendFileSync(args.out, JSON.stringify({ refused: 503 }) + '\n');
      res.writeHead(503, { 'Retry-After': '1' });
      res.end();
      return;
    }
    let line;
    try {
      let body = Buffer.concat(chunks);
      const gzip = req.headers['content-encoding'] === 'gzip';
      if (gzip) body = zlib.gunzipSync(body);
      const msg = Req.decode(body);
      const err = Req.verify(msg);
      if (err) throw new Error('verify: ' + err);
      line = Object.assign({ gzip, bytes: body.length }, flatten(msg));
    } catch (e) {
      fs.appendFileSync(args.out, JSON.stringify({ error: String(e) }) + '\n');
      res.writeHead(400);
      res.end();
      return;
    }
    const answer = () => {
      fs.appendFileSync(args.out, JSON.stringify(line) + '\n');
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
      res.end(Buffer.from(Resp.encode(Resp.create({})).finish()));
    };
    if (delay) setTimeout(answer, delay); else answer();
  });
});

server.listen(0, '127.0.0.1', () => {
  const tmp = args['port-file'] + '.tmp';
  fs.writeFileSync(tmp, String(server.address().port) + '\n');
  fs.renameSync(tmp, args['port-file']);
});
process.on('SIGTERM', () => process.exit(0));
