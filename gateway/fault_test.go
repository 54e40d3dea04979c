package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/internal/testenv"
)

// rawRequest sends bytes on a connection of its own and returns the status
// line's code, or 0 when the gateway closed without answering. hold keeps
// the connection open that long after writing, before reading.
func rawRequest(t *testing.T, addr, raw string, closeAfterWrite bool) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if closeAfterWrite {
		return 0
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// accessLines reads a JSON access log written by a stopped gateway.
func accessLines(t *testing.T, file string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// The chunked body of the report that took a backend down: "0x5" is not a
// chunk size.
const malformedChunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"

// No client can eject an upstream: malformed, cut and slow bodies are the
// client's fault (400, 499, 408), are logged as such, and never count
// toward passive ejection or the upstream's error metrics.
func TestClientBodyFaultsAreTheClients(t *testing.T) {
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "app")
	})
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := startGateway(t, config(fmt.Sprintf(`  limits: {readTimeout: 500ms}
  accessLog:
    sinks: [{file: {path: %q}}]
  backends:
  - {name: app, endpoints: [%s], passive: {consecutiveFailures: 2}}
  routes:
  - name: web
    backends: [{name: app}]
`, logFile, app.URL)))
	addr := strings.TrimPrefix(h.url, "http://")
	for i := range 10 {
		if code := rawRequest(t, addr, malformedChunked, false); code != http.StatusBadRequest {
			t.Fatalf("malformed chunked body %d: status %d, want 400", i, code)
		}
	}
	for range 5 {
		rawRequest(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", true)
	}
	if code := rawRequest(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nslow", false); code != http.StatusRequestTimeout {
		t.Fatalf("body that stopped coming: status %d, want 408", code)
	}
	// The backend is still in rotation for everyone else.
	for i := range 5 {
		if code, _ := h.get("/"); code != 200 {
			t.Fatalf("GET %d after the bad clients: %d", i, code)
		}
	}
	st := h.gw.Status()
	if e := st.Backends[0].Endpoints[0]; !e.Healthy || e.Ejected {
		t.Fatalf("endpoint after client faults: %+v", e)
	}
	metrics := h.metricsText()
	if regexpFind(`cutover_requests_total\{backend="app",code="5\d\d"`, metrics) {
		t.Errorf("client faults counted as upstream errors:\n%s", grepLines(metrics, "cutover_requests_total"))
	}
	if !regexpFind(`cutover_client_errors_total\{kind="malformed-request-body",route="web"\} 10`, metrics) {
		t.Errorf("malformed bodies not counted as client errors:\n%s", grepLines(metrics, "cutover_client_errors_total"))
	}
	waitFor(t, "the cut bodies to be counted", 2*time.Second, func() bool {
		return regexpFind(`cutover_client_errors_total\{kind="client-gone",route="web"\} 5`, h.metricsText())
	})
	h.stop()
	faults := map[string]int{}
	for _, l := range accessLines(t, logFile) {
		faults[fmt.Sprintf("%v %v", l["status"], l["fault"])]++
	}
	want := map[string]int{"400 client": 10, "499 client": 5, "408 client": 1, "200 ": 5}
	for k, n := range want {
		if faults[k] != n {
			t.Errorf("access log: %d lines %q, want %d (all: %v)", faults[k], k, n, faults)
		}
	}
}

// An endpoint that sends its headers and resets in the middle of the body
// is ejected after its threshold, and a route timeout counts as the
// upstream's failure too.
func TestMidBodyResetsAndTimeoutsEject(t *testing.T) {
	cut := newBackend(t, "cut", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: cut, endpoints: [%s], passive: {consecutive5xx: 0, consecutiveGatewayFailure: 0, consecutiveLocalOriginFailure: 3}}
  - {name: slow, endpoints: [%s], passive: {consecutive5xx: 0, consecutiveLocalOriginFailure: 0, consecutiveGatewayFailure: 2}}
  routes:
  - name: slow
    match: [{path: {prefix: /slow}}]
    timeout: 100ms
    backends: [{name: slow}]
  - name: cut
    backends: [{name: cut}]
`, cut.URL, slow.URL)))
	ejected := func(backend string) bool {
		for _, b := range h.gw.Status().Backends {
			if b.Name == backend {
				return b.Endpoints[0].Ejected
			}
		}
		return false
	}
	for i := range 3 {
		if ejected("cut") {
			t.Fatalf("cut ejected after %d resets, threshold 3", i)
		}
		resp, err := h.client.Get(h.url + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	waitFor(t, "the endpoint that resets mid-body to be ejected", 2*time.Second, func() bool { return ejected("cut") })
	if code, _ := h.get("/"); code != http.StatusServiceUnavailable {
		t.Errorf("after ejection: %d, want 503", code)
	}
	for range 2 {
		if code, _ := h.get("/slow"); code != http.StatusGatewayTimeout {
			t.Fatalf("route timeout: %d, want 504", code)
		}
	}
	waitFor(t, "route timeouts to eject", 2*time.Second, func() bool { return ejected("slow") })
}

// Passive ejection alone never empties a backend: at most
// maxEjectionPercent of it (10 % by default, at least one endpoint) is out.
func TestMaxEjectionPercent(t *testing.T) {
	var eps []string
	for i := range 4 {
		eps = append(eps, newBackend(t, fmt.Sprint("e", i), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
		}).URL)
	}
	list := strings.Join(eps, ", ")
	for _, tc := range []struct {
		passive string
		want    int
	}{
		{"{consecutive5xx: 2}", 1},
		{"{consecutive5xx: 2, maxEjectionPercent: 50}", 2},
		{"{consecutive5xx: 2, maxEjectionPercent: 100}", 4},
	} {
		h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s], passive: %s}
  routes:
  - name: web
    backends: [{name: app}]
`, list, tc.passive)))
		for range 40 {
			h.get("/")
		}
		n := 0
		for _, e := range h.gw.Status().Backends[0].Endpoints {
			if e.Ejected {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("passive %s: %d of 4 ejected, want %d", tc.passive, n, tc.want)
		}
		h.stop()
	}
}

// A GET in flight on a connection the upstream resets before answering is
// tried once more on another endpoint; a POST with a body is not.
func TestResetBeforeAnswerIsRetriedOnce(t *testing.T) {
	resets := testenv.TCPServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n') // the request line arrived
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	good := newBackend(t, "good", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [http://%s, %s], passive: {consecutiveFailures: 0}}
  routes:
  - name: web
    backends: [{name: app}]
`, resets, good.URL)))
	for i := range 20 {
		if code, by := h.get("/"); code != 200 || by != "good" {
			t.Fatalf("GET %d: %d from %q, want 200 from good", i, code, by)
		}
	}
	posts502 := 0
	for range 20 {
		resp, err := h.client.Post(h.url+"/", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 502 {
			posts502++
		}
	}
	if posts502 != 10 {
		t.Errorf("POSTs answered 502: %d of 20, want 10 (never resent)", posts502)
	}
}

// Hundreds of endpoints are supported, and a request's tries are bounded
// whatever their number: with 70 endpoints that refuse connections the
// answer is a prompt 502, not a spin until the client gives up.
func TestManyRefusingEndpointsAreBounded(t *testing.T) {
	eps := deadAddrs(t, 70)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s], passive: {consecutiveFailures: 0}}
  routes:
  - name: web
    backends: [{name: app}]
`, strings.Join(eps, ", "))))
	h.client.Timeout = 5 * time.Second
	for i := range 3 {
		if code, _ := h.get("/"); code != http.StatusBadGateway {
			t.Fatalf("GET %d: %d, want 502", i, code)
		}
	}

	// And 300 endpoints that answer all take their turn.
	var hits atomic.Int64
	var live []string
	for range 300 {
		live = append(live, newBackend(t, "live", func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }).URL)
	}
	h2 := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: app}]
`, strings.Join(live, ", "))))
	for i := range 300 {
		if code, _ := h2.get("/"); code != 200 {
			t.Fatalf("GET %d: %d", i, code)
		}
	}
	if hits.Load() != 300 {
		t.Errorf("%d hits, want 300", hits.Load())
	}
}

// After a failover to another backend, the request holds a place in that
// backend's circuit breaker, not in the first one's.
func TestBreakerCountsTheBackendUsed(t *testing.T) {
	var inflight, peak atomic.Int64
	spare := newBackend(t, "spare", func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond)
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: main, endpoints: [%s], passive: {consecutiveFailures: 0}}
  - {name: spare, endpoints: [%s], circuitBreaker: {maxRequests: 1}}
  routes:
  - name: web
    backends: [{name: main, weight: 100}, {name: spare, weight: 0}]
`, deadAddr(t), spare.URL)))
	// A connection per request: a client that dials one in a race and keeps
	// it unused makes the shutdown wait for it.
	h.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() { codes[i], _ = h.get("/") })
	}
	wg.Wait()
	if peak.Load() != 1 {
		t.Errorf("spare had %d requests at once, its breaker allows 1 (codes %v)", peak.Load(), codes)
	}
	ok, overflow := 0, 0
	for _, c := range codes {
		switch c {
		case 200:
			ok++
		case 503:
			overflow++
		}
	}
	if ok < 1 || ok+overflow != 4 {
		t.Errorf("codes %v: want 200 for those spare took and 503 overflow for the rest", codes)
	}
}

// deadAddrs returns n distinct loopback addresses nothing listens on, as
// deadAddr does.
func deadAddrs(t *testing.T, n int) []string {
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.3:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, "http://"+ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// An endpoint with an active check takes no traffic before its first check
// passes: a new side with nothing listening is never shown healthy and
// never answers 502, and /readyz waits for the first answers.
func TestNewEndpointsEarnTheirTraffic(t *testing.T) {
	old := newBackend(t, "old", nil)
	var slowChecks atomic.Bool
	slowChecks.Store(true)
	late := newBackend(t, "late", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && slowChecks.Load() {
			time.Sleep(700 * time.Millisecond)
		}
	})
	dead := deadAddr(t)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: old, endpoints: [%s]}
  - name: new
    endpoints: [%s]
    healthCheck: {path: /healthz, interval: 200ms, timeout: 200ms}
  - name: late
    endpoints: [%s]
    healthCheck: {path: /healthz, interval: 10s, timeout: 2s}
  routes:
  - name: other
    match: [{path: {prefix: /late}}]
    backends: [{name: late}]
  - name: web
    backends: [{name: old, weight: 0}, {name: new, weight: 100}]
`, old.URL, dead, late.URL)))
	if code := h.readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first check of late answered: %d, want 503", code)
	}
	for i := range 50 {
		if code, by := h.get("/"); code != 200 || by != "old" {
			t.Fatalf("GET %d: %d from %q: an endpoint not yet checked took traffic", i, code, by)
		}
		for _, b := range h.gw.Status().Backends {
			if b.Name == "new" && b.Endpoints[0].Healthy {
				t.Fatalf("endpoint with nothing listening shown healthy: %+v", b.Endpoints[0])
			}
		}
	}
	waitFor(t, "/readyz after the first checks", 3*time.Second, func() bool { return h.readyz() == 200 })
	if code, by := h.get("/late"); code != 200 || by != "late" {
		t.Errorf("late after its first check: %d from %q", code, by)
	}

	// An endpoint added by a reload starts unknown too, while the ones
	// that stay keep their state.
	writeConfig(t, h.file, config(fmt.Sprintf(`  backends:
  - {name: old, endpoints: [%s]}
  - name: new
    endpoints: [%s]
    healthCheck: {path: /healthz, interval: 200ms, timeout: 200ms}
  - name: late
    endpoints: [%s, %s]
    healthCheck: {path: /healthz, interval: 10s, timeout: 2s}
  routes:
  - name: other
    match: [{path: {prefix: /late}}]
    backends: [{name: late}]
  - name: web
    backends: [{name: old, weight: 0}, {name: new, weight: 100}]
`, old.URL, dead, late.URL, deadAddr(t))))
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	st := h.gw.Status()
	for _, b := range st.Backends {
		if b.Name != "late" {
			continue
		}
		if s := b.Endpoints[0].ActiveState; s != "healthy" {
			t.Errorf("endpoint kept across the reload: %s, want healthy", s)
		}
		if s := b.Endpoints[1].ActiveState; s == "healthy" {
			t.Errorf("endpoint added by the reload: %s before any check", s)
		}
	}
	for i := range 20 {
		if code, _ := h.get("/late"); code != 200 {
			t.Fatalf("GET /late %d after adding an unchecked endpoint: %d", i, code)
		}
	}
}

// With nothing proven healthy in a route, endpoints still waiting for their
// first check are tried rather than answering 503 at once.
func TestUntestedEndpointsAreALastResort(t *testing.T) {
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			time.Sleep(time.Second)
		}
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - name: app
    endpoints: [%s]
    healthCheck: {path: /healthz, interval: 10s, timeout: 3s}
  routes:
  - name: web
    backends: [{name: app}]
`, app.URL)))
	if st := h.gw.Status(); st.Backends[0].Endpoints[0].ActiveState != "unknown" {
		t.Fatalf("state before the first check: %s", st.Backends[0].Endpoints[0].ActiveState)
	}
	if code, by := h.get("/"); code != 200 || by != "app" {
		t.Errorf("only endpoint, not yet checked: %d from %q", code, by)
	}
}

func (h *harness) readyz() int {
	resp, err := h.client.Get(h.admin + "/readyz")
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
