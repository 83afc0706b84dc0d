// SPDX-License-Identifier: MIT
//
// dft-bench-otel-go: the application-side cost of one span in the OpenTelemetry Go SDK, the peer
// dft-bench-host measures difftrace against. The span is dft-bench-host's: a child of a request's
// root span (begun once, never ended), named "handle", two int64 attributes (req.seq = i,
// http.status = 42), then End. Spans go through the SDK's BatchSpanProcessor (default settings)
// into an exporter that does what an OTLP exporter does: it encodes each batch as an OTLP
// ExportTraceServiceRequest in protobuf (the wire format, written with protowire) and writes it
// to a TCP socket, to a sink process on another CPU that reads and discards.
//
// Timing mirrors dft-bench-host's loop (bench/host/span_loop.h): rounds of -batch spans, each timed
// as a whole, ns per span = round time / batch; before each round the producer waits until the
// processor's queue has room for the round (so no span is dropped for a full queue: the SDK drops
// silently when it is full), and the CPU time of that wait (its own thread's) is taken out of the
// application CPU. Application CPU per span = CPU time of the whole process (producer, the
// processor's goroutine, the exporter, the garbage collector) over the run / spans.
//
// Built offline in GOPATH mode against Debian's golang-opentelemetry-otel-dev (SDK 1.1.0) and
// golang-google-protobuf-dev; see bench/otel-go/CMakeLists.txt. Prints one JSON object.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// ---- OTLP protobuf encoding (opentelemetry/proto trace/v1, common/v1, resource/v1 field numbers)

func appendMsg(b []byte, num protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// KeyValue{key = 1, value = 2: AnyValue{string_value = 1, bool_value = 2, int_value = 3,
// double_value = 4}} as field num of the enclosing message.
func (e *encoder) appendKV(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	any := e.any[:0]
	switch kv.Value.Type() {
	case attribute.BOOL:
		v := uint64(0)
		if kv.Value.AsBool() {
			v = 1
		}
		any = protowire.AppendTag(any, 2, protowire.VarintType)
		any = protowire.AppendVarint(any, v)
	case attribute.INT64:
		any = protowire.AppendTag(any, 3, protowire.VarintType)
		any = protowire.AppendVarint(any, uint64(kv.Value.AsInt64()))
	case attribute.FLOAT64:
		any = protowire.AppendTag(any, 4, protowire.Fixed64Type)
		any = protowire.AppendFixed64(any, mathFloat64bits(kv.Value.AsFloat64()))
	default:
		any = appendString(any, 1, kv.Value.Emit())
	}
	body := appendString(e.kv[:0], 1, string(kv.Key))
	body = appendMsg(body, 2, any)
	e.any, e.kv = any, body
	return appendMsg(b, num, body)
}

func mathFloat64bits(f float64) uint64 { return *(*uint64)(unsafe.Pointer(&f)) }

// Span: trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5, kind 6,
// start_time_unix_nano 7, end_time_unix_nano 8, attributes 9, dropped_attributes_count 10,
// events 11, links 13, status 15 {message 2, code 3}.
type encoder struct {
	span, kv, any []byte
}

func (e *encoder) appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	p := e.span[:0]
	tid, sid := sc.TraceID(), sc.SpanID()
	p = protowire.AppendTag(p, 1, protowire.BytesType)
	p = protowire.AppendBytes(p, tid[:])
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	p = protowire.AppendBytes(p, sid[:])
	if ts := sc.TraceState().String(); ts != "" {
		p = appendString(p, 3, ts)
	}
	if par := s.Parent(); par.IsValid() {
		psid := par.SpanID()
		p = protowire.AppendTag(p, 4, protowire.BytesType)
		p = protowire.AppendBytes(p, psid[:])
	}
	p = appendString(p, 5, s.Name())
	// OTLP SpanKind = trace.SpanKind (UNSPECIFIED 0 .. CONSUMER 5)
	p = protowire.AppendTag(p, 6, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(s.SpanKind()))
	p = protowire.AppendTag(p, 7, protowire.Fixed64Type)
	p = protowire.AppendFixed64(p, uint64(s.StartTime().UnixNano()))
	p = protowire.AppendTag(p, 8, protowire.Fixed64Type)
	p = protowire.AppendFixed64(p, uint64(s.EndTime().UnixNano()))
	for _, kv := range s.Attributes() {
		p = e.appendKV(p, 9, kv)
	}
	if d := s.DroppedAttributes(); d > 0 {
		p = protowire.AppendTag(p, 10, protowire.VarintType)
		p = protowire.AppendVarint(p, uint64(d))
	}
	for _, ev := range s.Events() {
		evb := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
		evb = protowire.AppendFixed64(evb, uint64(ev.Time.UnixNano()))
		evb = appendString(evb, 2, ev.Name)
		for _, kv := range ev.Attributes {
			evb = e.appendKV(evb, 3, kv)
		}
		p = appendMsg(p, 11, evb)
	}
	if st := s.Status(); st.Code != codes.Unset {
		stb := []byte(nil)
		if st.Description != "" {
			stb = appendString(stb, 2, st.Description)
		}
		code := uint64(1) // STATUS_CODE_OK
		if st.Code == codes.Error {
			code = 2
		}
		stb = protowire.AppendTag(stb, 3, protowire.VarintType)
		stb = protowire.AppendVarint(stb, code)
		p = appendMsg(p, 15, stb)
	}
	e.span = p
	return appendMsg(b, 2, p) // ScopeSpans.spans = 2
}

// ExportTraceServiceRequest{resource_spans = 1: ResourceSpans{resource = 1: Resource{attributes = 1},
// scope_spans = 2: ScopeSpans{scope = 1: InstrumentationScope{name = 1, version = 2}, spans = 2}}}
func (e *encoder) request(out []byte, spans []sdktrace.ReadOnlySpan) []byte {
	var scope, res []byte
	if len(spans) > 0 {
		lib := spans[0].InstrumentationLibrary()
		sc := appendString(nil, 1, lib.Name)
		if lib.Version != "" {
			sc = appendString(sc, 2, lib.Version)
		}
		scope = appendMsg(nil, 1, sc)
		for _, kv := range spans[0].Resource().Attributes() {
			res = e.appendKV(res, 1, kv)
		}
	}
	for _, s := range spans {
		scope = e.appendSpan(scope, s)
	}
	rs := appendMsg(nil, 1, res)
	rs = appendMsg(rs, 2, scope)
	return appendMsg(out, 1, rs)
}

// ---- the exporter: one length-prefixed OTLP request per batch on a TCP connection

type exporter struct {
	conn     net.Conn
	w        *bufio.Writer
	enc      encoder
	buf      []byte
	exported int64 // atomic
	bytes    int64 // atomic
	batches  int64 // atomic
}

func (x *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	x.buf = x.enc.request(x.buf[:0], spans)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(x.buf)))
	if _, err := x.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := x.w.Write(x.buf); err != nil {
		return err
	}
	if err := x.w.Flush(); err != nil {
		return err
	}
	atomic.AddInt64(&x.exported, int64(len(spans)))
	atomic.AddInt64(&x.bytes, int64(len(x.buf)+4))
	atomic.AddInt64(&x.batches, 1)
	return nil
}

func (x *exporter) Shutdown(ctx context.Context) error { return x.conn.Close() }

// ---- helpers

func threadCPU() int64 {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID = 3: the producer goroutine is locked to its OS thread
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q * float64(len(v)-1))
	return v[i]
}

// sink: accept one connection, read and discard until EOF; print the bytes read to stderr.
func sink() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dft-bench-otel-go sink:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	c, err := ln.Accept()
	if err != nil {
		os.Exit(1)
	}
	io.Copy(io.Discard, c)
}

// pinned re-executes this program under taskset (the affinity of every thread the Go runtime
// starts, not only the calling one) unless it already runs so.
func pinned(cpu int, args []string) {
	if cpu < 0 || os.Getenv("DFT_OTEL_PINNED") != "" {
		return
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return
	}
	self, _ := os.Executable()
	env := append(os.Environ(), "DFT_OTEL_PINNED=1")
	syscall.Exec(ts, append([]string{"taskset", "-c", strconv.Itoa(cpu), self}, args...), env)
}

func main() {
	rounds := flag.Int("rounds", 2000, "timed rounds (the first 5% are warm-up)")
	batch := flag.Int("batch", 1000, "spans per round")
	appCPU := flag.Int("app-cpu", -1, "CPU of the application process (-1: any)")
	sinkCPU := flag.Int("sink-cpu", -1, "CPU of the sink process (-1: any)")
	quick := flag.Bool("quick", false, "300 rounds")
	isSink := flag.Bool("sink", false, "internal: run as the sink")
	flag.Parse()
	if *isSink {
		sink()
		return
	}
	pinned(*appCPU, os.Args[1:])
	if *quick {
		*rounds = 300
	}
	queue := sdktrace.DefaultMaxQueueSize
	if *rounds < 10 || *batch < 1 || *batch > queue/2 {
		fmt.Fprintf(os.Stderr, "dft-bench-otel-go: need -rounds >= 10 and 1 <= -batch <= %d\n", queue/2)
		os.Exit(2)
	}
	warm := *rounds / 20

	// the sink, on its own CPU: where the collector would be
	self, _ := os.Executable()
	var cmd *exec.Cmd
	if ts, err := exec.LookPath("taskset"); err == nil && *sinkCPU >= 0 {
		cmd = exec.Command(ts, "-c", strconv.Itoa(*sinkCPU), self, "-sink")
	} else {
		cmd = exec.Command(self, "-sink")
	}
	cmd.Env = append(os.Environ(), "DFT_OTEL_PINNED=1")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "dft-bench-otel-go: sink:", err)
		os.Exit(1)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "dft-bench-otel-go: sink did not start")
		os.Exit(1)
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+strings.TrimSpace(line))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dft-bench-otel-go: connect:", err)
		os.Exit(1)
	}
	x := &exporter{conn: conn, w: bufio.NewWriterSize(conn, 1<<16)}

	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(x), // BatchSpanProcessor, default queue 2048, batch 512, 5 s timeout
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", "bench-app"))),
	)
	tracer := tp.Tracer("dft-bench-otel-go")
	ctx, root := tracer.Start(context.Background(), "handle") // the request's root: never ended
	_ = root
	kSeq, kStatus := attribute.Key("req.seq"), attribute.Key("http.status")

	runtime.LockOSThread()
	samples := make([]float64, 0, *rounds)
	var ended, waitCPU int64
	limit := int64(queue - *batch)
	cpu0, wall0 := processCPU(), time.Now()
	for r := 0; r < *rounds; r++ {
		w0 := threadCPU()
		for ended-atomic.LoadInt64(&x.exported) > limit {
			time.Sleep(20 * time.Microsecond)
		}
		waitCPU += threadCPU() - w0
		t0 := time.Now()
		for i := 0; i < *batch; i++ {
			_, sp := tracer.Start(ctx, "handle")
			sp.SetAttributes(kSeq.Int64(int64(i)))
			sp.SetAttributes(kStatus.Int64(42))
			sp.End()
		}
		dt := time.Since(t0)
		ended += int64(*batch)
		if r >= warm {
			samples = append(samples, float64(dt.Nanoseconds())/float64(*batch))
		}
	}
	// what the processor and exporter still owe is part of the spans' cost
	w0 := threadCPU()
	for i := 0; i < 30000 && atomic.LoadInt64(&x.exported) < ended; i++ {
		time.Sleep(100 * time.Microsecond)
	}
	waitCPU += threadCPU() - w0
	cpu1, wall := processCPU(), time.Since(wall0)
	exported := atomic.LoadInt64(&x.exported)
	tp.Shutdown(context.Background())
	cmd.Wait()

	sort.Float64s(samples)
	appCPUns := float64(cpu1-cpu0-waitCPU) / float64(ended)
	res := map[string]interface{}{
		"bench":                           "dft-bench-otel-go",
		"sdk":                             "go.opentelemetry.io/otel/sdk " + otel.Version(),
		"go":                              runtime.Version(),
		"gomaxprocs":                      runtime.GOMAXPROCS(0),
		"rounds":                          *rounds,
		"batch":                           *batch,
		"processor":                       fmt.Sprintf("BatchSpanProcessor queue %d batch %d", queue, sdktrace.DefaultMaxExportBatchSize),
		"exporter":                        "OTLP protobuf (protowire) over TCP loopback",
		"ns_min":                          samples[0],
		"ns_median":                       pct(samples, 0.5),
		"ns_p99":                          pct(samples, 0.99),
		"app_cpu_ns_per_span":             appCPUns,
		"app_cpu_ns_per_span_with_pacing": float64(cpu1-cpu0) / float64(ended),
		"spans":                           ended,
		"exported":                        exported,
		"dropped":                         ended - exported,
		"batches":                         atomic.LoadInt64(&x.batches),
		"bytes_per_span":                  float64(atomic.LoadInt64(&x.bytes)) / float64(max64(exported, 1)),
		"wall_s":                          wall.Seconds(),
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		os.Exit(1)
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
