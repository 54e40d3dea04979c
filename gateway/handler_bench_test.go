package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/spec"
)

// memUpstream answers every request at once with the 6 bytes bench/backend
// sends, with no socket in between: what is left is the handler's own cost.
type memUpstream struct{}

func (memUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"6"}},
		ContentLength: 6,
		Body:          io.NopCloser(strings.NewReader("hello\n")),
		Request:       req,
	}, nil
}

// discardWriter is a ResponseWriter that keeps nothing, reused across
// requests.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

const plainBenchConfig = `apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: bench}
spec:
  backends:
  - {name: legacy, version: v1, endpoints: ["http://127.0.0.1:19001"]}
  - {name: new, version: v2, endpoints: ["http://127.0.0.1:19002"]}
  - {name: shadow, endpoints: ["http://127.0.0.1:19003"]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 90}, {name: new, weight: 10}]
`

// allFeatures is bench/run.sh's "all features" run: stickiness, a JSON
// access log, a local limit that admits everything, and a 10 % mirror.
func allFeatures(logFile string) string {
	return strings.Replace(plainBenchConfig, "  routes:\n", `  accessLog:
    sinks: [{file: {path: "`+logFile+`"}}]
  routes:
`, 1) + `    stickiness: {cookie: {name: s}}
    rateLimits:
    - name: all
      key: {clientIP: true}
      tokenBucket: {maxTokens: 100000000, tokensPerFill: 100000000, fillInterval: 1s}
    mirror: {backend: shadow, percent: 10}
`
}

// benchHandler compiles a config into a handler whose upstreams are all
// memUpstream.
func benchHandler(tb testing.TB, cfgText string) http.Handler {
	return compileBench(tb, cfgText, func(b *upstream.Backend) { b.Transport = memUpstream{} })
}

// compileBench compiles a config into a handler, its backends' clients
// made in-memory by mem.
func compileBench(tb testing.TB, cfgText string, mem func(*upstream.Backend)) *proxyHandler {
	cfg, err := spec.Parse("bench.yaml", []byte(cfgText))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics()
	pool := newPool(log, m, func() {})
	t, _, _ := pool.compile(cfg, nil, nil, 1, m)
	for _, b := range t.backends {
		mem(b)
	}
	h := newProxyHandler(func() *Table { return t }, pool, m, cfg.Gateway.Spec.Limits.MaxBodyBytes, log)
	if al := cfg.Gateway.Spec.AccessLog; al != nil {
		h.log, err = newAccessLog(al, func() trustedProxies { return t.trusted }, m, func(string, error) {})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { h.log.logger.Close() })
	}
	return h
}

var benchURL = &url.URL{Path: "/"}

// proxyOne sends one GET through h, as a client on a keep-alive connection
// would have it parsed.
func proxyOne(h http.Handler, w *discardWriter) {
	r := &http.Request{
		Method: http.MethodGet, URL: benchURL, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:     http.Header{"User-Agent": {"wrk"}, "Cookie": {"s=1234.legacy"}},
		Host:       "bench.example.com",
		RemoteAddr: "127.0.0.1:50000",
		Body:       http.NoBody,
	}
	clear(w.h)
	h.ServeHTTP(w, r)
}

func benchmarkHandler(b *testing.B, cfgText string) {
	h := benchHandler(b, cfgText)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		proxyOne(h, w)
	}
}

// BenchmarkHandler is one proxied request through the handler alone, with
// no socket: ns/op and allocs/op are the gateway's own per-request cost.
func BenchmarkHandler(b *testing.B) { benchmarkHandler(b, plainBenchConfig) }

// BenchmarkHandlerAllFeatures is the same with every feature on.
func BenchmarkHandlerAllFeatures(b *testing.B) {
	benchmarkHandler(b, allFeatures(filepath.Join(b.TempDir(), "access.log")))
}

// The allocation budget per proxied request (bench/README.md): a change
// that allocates more per request fails here.
func TestAllocationBudget(t *testing.T) {
	netHTTP := func(cfg string) func() {
		h := benchHandler(t, cfg)
		w := &discardWriter{h: http.Header{}}
		return func() { proxyOne(h, w) }
	}
	fast := func(cfg string) func() { return newFastBench(t, cfg).one }
	all := allFeatures(filepath.Join(t.TempDir(), "access.log"))
	for _, tc := range []struct {
		name   string
		one    func()
		budget float64
	}{
		{"net/http, plain", netHTTP(plainBenchConfig), plainAllocBudget},
		{"net/http, all features", netHTTP(all), allFeaturesAllocBudget},
		{"fast, plain", fast(plainBenchConfig), fastPlainAllocBudget},
		{"fast, all features", fast(all), fastAllFeaturesAllocBudget},
	} {
		for range 100 {
			tc.one() // warm up pools and lazily made metric children
		}
		// AllocsPerRun counts the whole process's allocations: a timer or
		// GC goroutine that allocates during one measurement adds to it,
		// never takes away, so the least of three is the handler's own.
		got := testing.AllocsPerRun(2000, tc.one)
		for range 2 {
			got = min(got, testing.AllocsPerRun(2000, tc.one))
		}
		t.Logf("%s: %.1f allocations per request (budget %.0f)", tc.name, got, tc.budget)
		if got > tc.budget {
			t.Errorf("%s: %.1f allocations per proxied request, over the budget of %.0f", tc.name, got, tc.budget)
		}
	}
}

// The budgets: what the handler allocates per request today, the request
// built by proxyOne (3) included.
const (
	plainAllocBudget       = 40
	allFeaturesAllocBudget = 46
)

// The fast server's budgets, its parsing and writing included: the
// exchange and the forwarding loop's try (plain); with every feature, the
// access-log line, the sticky cookie and, for one request in ten, the
// mirror's copy.
const (
	fastPlainAllocBudget       = 2
	fastAllFeaturesAllocBudget = 12
)

// memConn is an upstream connection in memory: every request written to
// it is answered with the 6 bytes bench/backend sends.
type memConn struct{ answers bytes.Buffer }

const memAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"

func (c *memConn) Write(p []byte) (int, error)      { c.answers.WriteString(memAnswer); return len(p), nil }
func (c *memConn) Read(p []byte) (int, error)       { return c.answers.Read(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func memDial(context.Context, string, string) (net.Conn, error) { return &memConn{}, nil }

// fastBench is the fast server's handler over in-memory upstreams, and a
// request context reused across requests as the server reuses it.
type fastBench struct {
	f   *fastServer
	ctx fasthttp.RequestCtx
	raw *bytes.Reader
	br  *bufio.Reader
	bw  *bufio.Writer
}

const fastBenchRequest = "GET / HTTP/1.1\r\nHost: bench.example.com\r\nUser-Agent: wrk\r\nCookie: s=1234.legacy\r\n\r\n"

func newFastBench(tb testing.TB, cfgText string) *fastBench {
	h := compileBench(tb, cfgText, func(b *upstream.Backend) { b.SetDial(memDial) })
	fb := &fastBench{f: &fastServer{h: h, handover: newHandover()}, raw: bytes.NewReader(nil)}
	fb.br = bufio.NewReader(fb.raw)
	fb.bw = bufio.NewWriter(io.Discard)
	fb.ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}, nil)
	return fb
}

// one parses a request as the server does, serves it and writes the answer.
func (fb *fastBench) one() {
	fb.ctx.Request.Reset()
	fb.ctx.Response.Reset()
	fb.raw.Reset([]byte(fastBenchRequest))
	fb.br.Reset(fb.raw)
	fb.ctx.Request.Header.Read(fb.br)
	fb.f.serve(&fb.ctx)
	fb.ctx.Response.Write(fb.bw)
	fb.bw.Flush()
}

func benchmarkFastHandler(b *testing.B, cfgText string) {
	fb := newFastBench(b, cfgText)
	b.ReportAllocs()
	for b.Loop() {
		fb.one()
	}
}

// BenchmarkFastHandler is one request through the fast server's handler,
// its request parsed and its answer written as the server does, with no
// socket.
func BenchmarkFastHandler(b *testing.B) { benchmarkFastHandler(b, plainBenchConfig) }

// BenchmarkFastHandlerAllFeatures is the same with every feature on.
func BenchmarkFastHandlerAllFeatures(b *testing.B) {
	benchmarkFastHandler(b, allFeatures(filepath.Join(b.TempDir(), "access.log")))
}
