package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/internal/testenv"
)

// conformanceBackend answers each path with one behaviour a proxy must
// pass through unchanged.
func conformanceBackend(t *testing.T) *backendServer {
	return newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("X-Content-Length", fmt.Sprint(r.ContentLength))
			w.Header().Set("X-Transfer-Encoding", strings.Join(r.TransferEncoding, ","))
			io.Copy(w, r.Body)
		case "/headers":
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "Connection", "Keep-Alive", "X-Hop", "Te", "Expect"} {
				w.Header().Set("Seen-"+k, r.Header.Get(k))
			}
			w.Header().Set("Connection", "X-Upstream-Hop")
			w.Header().Set("X-Upstream-Hop", "secret")
		case "/stream":
			// Unknown length: each event must reach the client before the
			// next is written.
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		case "/trailers":
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "body")
			w.Header().Set("X-Checksum", "abc")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		case "/bighead":
			w.Header().Set("X-Big", strings.Repeat("x", 2<<20))
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/reset":
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case "/ws":
			if r.Header.Get("Upgrade") != "websocket" {
				http.Error(w, "no upgrade", 400)
				return
			}
			conn, brw, _ := http.NewResponseController(w).Hijack()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo " + line)
			brw.Flush()
			conn.Close()
		default:
			io.WriteString(w, "hello")
		}
	})
}

// The same table of proxy behaviours runs against both servers and both
// upstream clients, so that the fast ones cannot drift from net/http's. On
// the fast server with the fast client only the upgrade and the chunked
// body are handed over to net/http; with the standard client, every
// request is.
func TestConformanceOfBothServersAndClients(t *testing.T) {
	for _, c := range []struct{ server, client, handovers string }{
		{"fast", "fast", `cutover_handovers_total{reason="chunked-body"} 1` + "\n" + `cutover_handovers_total{reason="upgrade"} 1`},
		{"fast", "standard", `cutover_handovers_total{reason="route"}`},
		{"standard", "fast", ""},
		{"standard", "standard", ""},
	} {
		t.Run(c.server+" server, "+c.client+" client", func(t *testing.T) {
			app := conformanceBackend(t)
			cfg := config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s], client: %s, passive: {consecutiveFailures: 0}}
  routes:
  - name: slow
    match: [{path: {exact: /slow}}]
    timeout: 200ms
    backends: [{name: app}]
  - name: web
    backends: [{name: app}]
`, app.URL, c.client))
			h := startGateway(t, strings.Replace(cfg, "address: 127.0.0.1:0\n", "address: 127.0.0.1:0\n    server: "+c.server+"\n", 1))
			conformance(t, h)
			var got []string
			for _, line := range strings.Split(h.metricsText(), "\n") {
				if strings.HasPrefix(line, "cutover_handovers_total{") {
					got = append(got, line)
				}
			}
			all := strings.Join(got, "\n")
			exact := c.server == "standard" || c.client == "fast"
			if exact && all != c.handovers || !exact && !strings.Contains(all, c.handovers) {
				t.Errorf("handed over to net/http:\n%s\nwant:\n%s", all, c.handovers)
			}
		})
	}
}

func conformance(t *testing.T, h *harness) {
	addr := strings.TrimPrefix(h.url, "http://")
	// Each case on its own connections: one the fast server hands over to
	// net/http stays there.
	tRun := t.Run
	run := func(name string, f func(t *testing.T)) {
		h.client.CloseIdleConnections()
		tRun(name, f)
	}
	do := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	run("body with a length", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/echo", strings.NewReader("0123456789"))
		resp, body := do(req)
		if body != "0123456789" || resp.Header.Get("X-Content-Length") != "10" {
			t.Errorf("%q, upstream saw length %s", body, resp.Header.Get("X-Content-Length"))
		}
	})
	run("chunked body streamed", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			for i := range 3 {
				fmt.Fprintf(pw, "part%d;", i)
				time.Sleep(20 * time.Millisecond)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, h.url+"/echo", pr)
		resp, body := do(req)
		if body != "part0;part1;part2;" || resp.Header.Get("X-Transfer-Encoding") != "chunked" {
			t.Errorf("%q, upstream saw transfer encoding %q", body, resp.Header.Get("X-Transfer-Encoding"))
		}
	})
	run("hop-by-hop removed, forwarding headers set", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/headers", nil)
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "secret")
		req.Header.Set("Keep-Alive", "timeout=5")
		resp, _ := do(req)
		for k, want := range map[string]string{"Seen-X-Forwarded-For": "127.0.0.1", "Seen-X-Forwarded-Proto": "http", "Seen-X-Hop": "", "Seen-Keep-Alive": "", "X-Upstream-Hop": ""} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s %q, want %q", k, got, want)
			}
		}
		if id := resp.Header.Get("Seen-X-Request-Id"); len(id) != 32 {
			t.Errorf("X-Request-Id %q", id)
		}
	})
	run("unknown length flushed as it comes", func(t *testing.T) {
		resp, err := h.client.Get(h.url + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		start := time.Now()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: 0\n" {
			t.Fatalf("first event %q %v", line, err)
		}
		if took := time.Since(start); took > 150*time.Millisecond {
			t.Errorf("the first event took %v: it was held back with the others", took)
		}
	})
	run("trailers", func(t *testing.T) {
		resp, err := h.client.Get(h.url + "/trailers")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
			t.Errorf("trailer %q", got)
		}
	})
	run("expect 100-continue", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/echo", strings.NewReader("after continue"))
		req.Header.Set("Expect", "100-continue")
		if _, body := do(req); body != "after continue" {
			t.Errorf("%q", body)
		}
	})
	run("bodiless answers", func(t *testing.T) {
		for path, code := range map[string]int{"/nocontent": 204, "/notmodified": 304} {
			req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
			if resp, body := do(req); resp.StatusCode != code || body != "" {
				t.Errorf("%s: %d %q", path, resp.StatusCode, body)
			}
		}
		req, _ := http.NewRequest(http.MethodHead, h.url+"/", nil)
		if resp, body := do(req); resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD: %d %q", resp.StatusCode, body)
		}
		// The connection is still good for the next request.
		if code, _ := h.get("/"); code != 200 {
			t.Errorf("GET after bodiless answers: %d", code)
		}
	})
	run("response headers over the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/bighead", nil)
		if resp, _ := do(req); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("2 MiB of headers: %d, want 502", resp.StatusCode)
		}
	})
	run("route timeout and reset", func(t *testing.T) {
		for path, want := range map[string][2]string{"/slow": {"504", ReasonTimeoutName}, "/reset": {"502", "upstream-reset"}} {
			req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
			resp, _ := do(req)
			if fmt.Sprint(resp.StatusCode) != want[0] || resp.Header.Get("X-Cutover-Reason") != want[1] {
				t.Errorf("%s: %d %s, want %s %s", path, resp.StatusCode, resp.Header.Get("X-Cutover-Reason"), want[0], want[1])
			}
		}
	})
	run("websocket", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		io.WriteString(conn, "ping\n")
		if line, _ := br.ReadString('\n'); line != "echo ping\n" {
			t.Errorf("through the tunnel: %q", line)
		}
	})
	run("many requests on few connections", func(t *testing.T) {
		for i := range 200 {
			if code, _ := h.get("/"); code != 200 {
				t.Fatalf("GET %d: %d", i, code)
			}
		}
	})
}

// ReasonTimeoutName is the reason a route timeout answers with.
const ReasonTimeoutName = "upstream-timeout"

// An upstream that closes idle keep-alive connections does not fail the
// next request on either client: a pooled connection that turns out dead
// before any answer is replaced.
func TestIdleConnectionsClosedByTheUpstream(t *testing.T) {
	for _, client := range []string{"fast", "standard"} {
		t.Run(client, func(t *testing.T) {
			// Answers one request per connection, keeping it open as if for
			// more, then closes it soon after.
			addr := testenv.TCPServer(t, func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(50 * time.Millisecond)
			})
			h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [http://%s], client: %s, passive: {consecutiveFailures: 0}}
  routes:
  - name: web
    backends: [{name: app}]
`, addr, client)))
			for i := range 20 {
				if code, _ := h.get("/"); code != 200 {
					t.Fatalf("GET %d: %d", i, code)
				}
				time.Sleep(80 * time.Millisecond)
			}
		})
	}
}

// A request with a body, which cannot be sent twice, does not fail on a
// connection the upstream closed while it was idle (Node.js closes idle
// keep-alive connections after 5 s; this one after 300 ms).
func TestBodyAfterTheUpstreamClosedAnIdleConnection(t *testing.T) {
	for _, client := range []string{"fast", "standard"} {
		t.Run(client, func(t *testing.T) {
			app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(w, r.Body)
			}))
			app.Config.IdleTimeout = 300 * time.Millisecond
			app.Start()
			defer app.Close()
			h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s], client: %s, passive: {consecutiveFailures: 0}}
  routes:
  - name: web
    backends: [{name: app}]
`, app.URL, client)))
			for i := range 4 {
				resp, err := h.client.Post(h.url+"/", "text/plain", strings.NewReader("payload"))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "payload" {
					t.Fatalf("POST %d after %v idle: %d %q", i, 600*time.Millisecond, resp.StatusCode, body)
				}
				time.Sleep(600 * time.Millisecond)
			}
		})
	}
}

// A pooled connection keeps the deadline of the exchange it last served
// (clearing it would cost a timer update per request); the next exchange
// sets its own, so a connection idle past its old deadline is reused, not
// failed or replaced.
func TestConnectionReusedAfterItsLastDeadline(t *testing.T) {
	for _, client := range []string{"fast", "standard"} {
		t.Run(client, func(t *testing.T) {
			var opened atomic.Int64
			app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}))
			app.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s == http.StateNew {
					opened.Add(1)
				}
			}
			app.Start()
			defer app.Close()
			h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s], client: %s}
  routes:
  - name: web
    timeout: 150ms
    backends: [{name: app}]
`, app.URL, client)))
			for i := range 4 {
				if code, _ := h.get("/"); code != 200 {
					t.Fatalf("GET %d after the last deadline passed: %d", i, code)
				}
				time.Sleep(250 * time.Millisecond)
			}
			if n := opened.Load(); n != 1 {
				t.Errorf("%d upstream connections for 4 requests in turn, want 1", n)
			}
		})
	}
}

// A reload that replaces a backend's client closes the connections that
// were in use when it came, once their answers end, instead of keeping them
// idle in a client nobody uses any more.
func TestReplacedClientLeavesNoConnections(t *testing.T) {
	var open atomic.Int64
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	app.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	app.Start()
	defer app.Close()
	cfg := func(dial string) string {
		return config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s], dialTimeout: %s}
  routes:
  - name: web
    backends: [{name: app}]
`, app.URL, dial))
	}
	h := startGateway(t, cfg("2s"))
	done := make(chan int)
	go func() { code, _ := h.get("/slow"); done <- code }()
	time.Sleep(100 * time.Millisecond)
	writeConfig(t, h.file, cfg("3s")) // a new client for the backend
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 200 {
		t.Fatalf("the request in flight across the reload: %d", code)
	}
	for range 5 {
		h.get("/")
	}
	waitFor(t, "the old client's connection to close", 2*time.Second, func() bool { return open.Load() == 1 })
}
