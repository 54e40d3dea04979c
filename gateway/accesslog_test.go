package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Under load with a file sink, every answered request has its line and
// none is dropped.
func TestAccessLogUnderLoadLosesNothing(t *testing.T) {
	b := newBackend(t, "app", nil)
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := startGateway(t, config(fmt.Sprintf(`  preserveExternalRequestId: true
  accessLog:
    sinks: [{file: {path: %q}}]
    headers: [X-Tenant]
    cookies: [{name: session, hash: true}, {name: lang}]
  backends:
  - {name: app, version: v7, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: app}]
`, logFile, b.URL)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res := runLoad(ctx, loadClient(64), h.url+"/load", 64)

	req, _ := http.NewRequest(http.MethodGet, h.url+"/one?q=1", nil)
	req.Header.Set("X-Tenant", "acme")
	req.Header.Set("User-Agent", "test-agent")
	req.Header.Set("X-Request-Id", "req-42")
	req.AddCookie(&http.Cookie{Name: "session", Value: "secret"})
	req.AddCookie(&http.Cookie{Name: "lang", Value: "ja"})
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.stop() // shutdown writes every buffered line

	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	var last map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines++
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", lines, err, sc.Text())
		}
	}
	want := int(res.ok.Load()) + 1
	t.Logf("%d requests answered, %d lines logged", want, lines)
	if lines != want || res.non2xx.Load() != 0 {
		t.Fatalf("%d lines for %d answered requests", lines, want)
	}
	checks := map[string]any{
		"request_id": "req-42", "method": "GET", "path": "/one", "query": "q=1", "status": 200.0,
		"route": "web", "backend": "app", "version": "v7", "endpoint": b.URL, "user_agent": "test-agent",
		"client_ip": "127.0.0.1", "protocol": "HTTP/1.1", "mirror": false, "retries": 0.0,
		"bytes_out": 3.0,
	}
	for k, v := range checks {
		if last[k] != v {
			t.Errorf("%s = %v, want %v", k, last[k], v)
		}
	}
	if hdr := last["headers"].(map[string]any); hdr["X-Tenant"] != "acme" {
		t.Errorf("headers %v", hdr)
	}
	cookies := last["cookies"].(map[string]any)
	if cookies["lang"] != "ja" || cookies["session"] != "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Errorf("cookies %v", cookies)
	}
}
