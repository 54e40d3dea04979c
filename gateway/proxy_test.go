package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func oneBackendConfig(url, routeExtra, specExtra string) string {
	return config(specExtra + fmt.Sprintf(`  backends:
  - name: app
    endpoints: [%s]
  routes:
  - name: web
    backends: [{name: app}]
%s`, url, routeExtra))
}

// The headers the gateway owns are believed only from a trusted proxy:
// anyone else's X-Forwarded-*, Forwarded, X-Real-IP and X-Request-Id are
// replaced, not passed on.
func TestProxyHeaders(t *testing.T) {
	seen := make(chan http.Header, 2)
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		hdr := r.Header.Clone()
		hdr.Set("Host", r.Host)
		seen <- hdr
	})
	for _, tc := range []struct {
		name, specExtra string
		want            map[string]string
		keptID          bool
	}{
		{"untrusted peer", "", map[string]string{
			"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Port": "", "Forwarded": "",
		}, false},
		{"untrusted peer, request id preserved", "  preserveExternalRequestId: true\n", map[string]string{
			"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Port": "",
		}, true},
		{"trusted proxy", "  trustedProxies: [127.0.0.1]\n", map[string]string{
			"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Real-Ip": "203.0.113.7", "X-Forwarded-Port": "8443",
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startGateway(t, oneBackendConfig(b.URL, "", tc.specExtra))
			req, _ := http.NewRequest(http.MethodGet, h.url+"/x", nil)
			req.Host = "shop.example.com"
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Port", "8443")
			req.Header.Set("Forwarded", "for=203.0.113.7")
			req.Header.Set("X-Real-IP", "203.0.113.9")
			req.Header.Set("X-Request-Id", "abc-123")
			req.Header.Set("Connection", "X-Secret")
			req.Header.Set("X-Secret", "hop-by-hop")
			req.Header.Set("Keep-Alive", "timeout=5")
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := <-seen
			checks := map[string]string{
				"Host":             "shop.example.com",
				"X-Forwarded-Host": "shop.example.com",
				"X-Secret":         "",
				"Keep-Alive":       "",
			}
			if !strings.Contains(tc.specExtra, "trusted") {
				checks["X-Forwarded-Proto"] = "http"
			}
			for k, v := range tc.want {
				checks[k] = v
			}
			for k, want := range checks {
				if got.Get(k) != want {
					t.Errorf("upstream saw %s %q, want %q", k, got.Get(k), want)
				}
			}
			id := got.Get("X-Request-Id")
			if tc.keptID && id != "abc-123" || !tc.keptID && (id == "abc-123" || len(id) != 32) {
				t.Errorf("X-Request-Id %q (client sent abc-123; kept: %v)", id, tc.keptID)
			}
		})
	}
}

// Only the upgrade protocols a route allows pass: an h2c upgrade is
// stripped, so the backend's 101 cannot open a tunnel past the gateway.
func TestOnlyAllowedUpgradesPass(t *testing.T) {
	var upgrades []string
	var mu sync.Mutex
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upgrades = append(upgrades, r.Header.Get("Upgrade")+"|"+r.Header.Get("Connection")+"|"+r.Header.Get("Http2-Settings"))
		mu.Unlock()
		if r.Header.Get("Upgrade") == "" {
			fmt.Fprint(w, "plain")
			return
		}
		w.Header().Set("Upgrade", r.Header.Get("Upgrade"))
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	h := startGateway(t, oneBackendConfig(b.URL, "", ""))
	addr := strings.TrimPrefix(h.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 100))
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "plain" {
		t.Fatalf("h2c upgrade: %d %q, want a plain 200", resp.StatusCode, body)
	}
	// The connection is still HTTP, routed and logged like any other.
	io.WriteString(conn, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("next request on the connection: %v %v", resp, err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if upgrades[0] != "||" {
		t.Errorf("the backend saw Upgrade|Connection|HTTP2-Settings %q, want none", upgrades[0])
	}
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo
	})
	h := startGateway(t, oneBackendConfig(b.URL, "", ""))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	fmt.Fprint(conn, "ping-through-the-gateway")
	buf := make([]byte, len("ping-through-the-gateway"))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping-through-the-gateway" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

func TestServerSentEventsAreFlushed(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	})
	h := startGateway(t, oneBackendConfig(b.URL, "", ""))
	resp, err := h.client.Get(h.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q, %v: the stream was not flushed", line, err)
	}
}

func TestUpstreamErrorsMapToStatus(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	reset := newBackend(t, "reset", func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	})
	h := startGateway(t, config(fmt.Sprintf(`  limits:
    maxBodyBytes: 1024
  backends:
  - {name: slow, endpoints: [%s]}
  - {name: reset, endpoints: [%s], passive: {consecutiveFailures: 0}}
  - {name: refused, endpoints: [%s], passive: {consecutiveFailures: 0}}
  routes:
  - name: slow
    match: [{path: {prefix: /slow}}]
    timeout: 100ms
    backends: [{name: slow}]
  - name: reset
    match: [{path: {prefix: /reset}}]
    backends: [{name: reset}]
  - name: refused
    match: [{path: {prefix: /refused}}]
    backends: [{name: refused}]
  - name: rest
    backends: [{name: slow}]
`, slow.URL, reset.URL, deadAddr(t))))
	tests := []struct {
		method, path string
		body         string
		code         int
		reason       string
	}{
		{"GET", "/slow", "", 504, "upstream-timeout"},
		{"GET", "/reset", "", 502, "upstream-reset"},
		{"GET", "/refused", "", 502, "upstream-connect-error"},
		{"POST", "/big", strings.Repeat("x", 2048), 413, "request-body-too-large"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, h.url+tc.path, strings.NewReader(tc.body))
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("X-Cutover-Reason") != tc.reason {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("X-Cutover-Reason"), tc.code, tc.reason)
		}
	}
	if m := h.metricsText(); !strings.Contains(m, `cutover_requests_total{backend="slow",code="504",route="slow",version=""} 1`) {
		t.Errorf("the 504 is not counted:\n%s", grepLines(m, "cutover_requests_total"))
	}
}

func TestHeaderLimit(t *testing.T) {
	b := newBackend(t, "app", nil)
	h := startGateway(t, oneBackendConfig(b.URL, "", "  limits:\n    maxHeaderBytes: 4096\n"))
	req, _ := http.NewRequest(http.MethodGet, h.url+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB header with a 4 KiB limit: %d", resp.StatusCode)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
