package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/ratelimit/rls"
)

// startRLS runs `cutover ratelimit serve`'s server on a real Redis and
// returns its gRPC address and a function that stops it.
func startRLS(t *testing.T, config string) (string, func()) {
	t.Helper()
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "edge.yaml"), []byte(config), 0o600)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	srv, err := rls.NewServer(dir, rls.LoadOptions{}, rls.NewStore(rdb), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Service.Headers = true
	grpcLn, _ := net.Listen("tcp", "127.0.0.1:0")
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLn, httpLn) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return grpcLn.Addr().String(), stop
}

// The handbook's live-watch limit: paths /watch/lvNNN share a global limit
// kept by the rate-limit service on Redis.
func TestGlobalRateLimit(t *testing.T) {
	service, stopService := startRLS(t, `domain: edge
descriptors:
  - key: header_match
    value: live
    rate_limit: {unit: minute, requests_per_unit: 3}
`)
	b := newBackend(t, "app", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: strict
    match: [{path: {prefix: /strict}}]
    backends: [{name: app}]
    rateLimits:
    - name: live
      global:
        service: %[2]s
        domain: edge
        failureModeDeny: true
        descriptors:
        - actions: [{headerValueMatch: {descriptorValue: live, headers: [{name: ":path", regex: '/strict/watch/(lv\d+)'}]}}]
  - name: web
    backends: [{name: app}]
    rateLimits:
    - {name: burst, key: {route: true}, tokenBucket: {maxTokens: 5, tokensPerFill: 5, fillInterval: 1h}}
    - name: live
      global:
        service: %[2]s
        domain: edge
        timeout: 200ms
        descriptors:
        - actions: [{headerValueMatch: {descriptorValue: live, headers: [{name: ":path", regex: '/watch/(lv\d+)'}]}}]
`, b.URL, service)))
	var got []string
	for _, path := range []string{"/watch/lv1", "/watch/lv2", "/other", "/watch/lv3", "/watch/lv4"} {
		resp, err := h.client.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, fmt.Sprintf("%s %d %s", path, resp.StatusCode, resp.Header.Get("X-Cutover-Ratelimited")))
		if path == "/watch/lv4" && (resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != "0") {
			t.Errorf("the service's headers are missing: %v", resp.Header)
		}
	}
	want := "[/watch/lv1 200  /watch/lv2 200  /other 200  /watch/lv3 200  /watch/lv4 429 global]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v\nwant %s", got, want)
	}
	// The local limit runs first: once its 5 tokens are gone, the service
	// is not asked.
	code, _ := h.get("/other")
	resp, err := h.client.Get(h.url + "/watch/lv5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code != 429 || resp.Header.Get("X-Cutover-Ratelimited") != "local" {
		t.Fatalf("after the local burst: %d, %d %q", code, resp.StatusCode, resp.Header.Get("X-Cutover-Ratelimited"))
	}
	// With the service gone, requests pass, unless failureModeDeny.
	stopService()
	if code, _ := h.get("/strict/watch/lv1"); code != 503 {
		t.Fatalf("failureModeDeny with the service down: %d, want 503", code)
	}
	m := h.metricsText()
	for _, want := range []string{
		`cutover_ratelimit_total{limiter="live",result="global_over_limit",route="web"} 1`,
		`cutover_ratelimit_total{limiter="live",result="global_failure",route="strict"} 1`,
		`cutover_ratelimit_total{limiter="burst",result="limited",route="web"} 2`,
		`cutover_ratelimit_total{limiter="live",result="global_ok",route="web"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "cutover_ratelimit"))
		}
	}
}

func TestGlobalRateLimitFailsOpen(t *testing.T) {
	service, stopService := startRLS(t, "domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: {unit: minute, requests_per_unit: 100}\n")
	b := newBackend(t, "app", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: app}]
    rateLimits:
    - name: per-ip
      global: {service: %s, domain: edge, descriptors: [{actions: [{remoteAddress: {}}]}]}
`, b.URL, service)))
	if code, _ := h.get("/"); code != 200 {
		t.Fatalf("with the service up: %d", code)
	}
	stopService()
	start := time.Now()
	if code, _ := h.get("/"); code != 200 {
		t.Fatalf("with the service down (fail open): %d", code)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the failure took %v (timeout 20ms)", took)
	}
}
