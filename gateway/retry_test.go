package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetriesGoToAnotherEndpoint(t *testing.T) {
	var badHits atomic.Int64
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	good := newBackend(t, "good", nil)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: flaky, endpoints: [%s, %s], passive: {consecutiveFailures: 0}}
  - {name: hangs, endpoints: [%s, %s], passive: {consecutiveFailures: 0}}
  routes:
  - name: flaky
    match: [{path: {prefix: /flaky}}]
    backends: [{name: flaky}]
    retries: {attempts: 2, retryOn: ["503"]}
  - name: hangs
    backends: [{name: hangs}]
    retries: {attempts: 1, perTryTimeout: 100ms, retryOn: ["504"]}
`, bad.URL, good.URL, slow.URL, good.URL)))
	for range 20 {
		if code, b := h.get("/flaky"); code != 200 || b != "good" {
			t.Fatalf("GET with a 503 endpoint: %d from %q", code, b)
		}
	}
	if badHits.Load() != 10 {
		t.Errorf("the failing endpoint saw %d of 20 requests, want its round-robin half", badHits.Load())
	}
	// A POST is not idempotent: its 503 reaches the client.
	codes := map[int]int{}
	for range 20 {
		resp, err := h.client.Post(h.url+"/flaky", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[503] != 10 || codes[200] != 10 {
		t.Errorf("POSTs: %v, want 10 retried nowhere", codes)
	}
	// A try that hangs past perTryTimeout goes to the other endpoint.
	for range 4 {
		start := time.Now()
		code, b := h.get("/hangs")
		if code != 200 || b != "good" || time.Since(start) > time.Second {
			t.Fatalf("GET with a hanging endpoint: %d from %q after %v", code, b, time.Since(start))
		}
	}
	m := h.metricsText()
	if !strings.Contains(m, `cutover_requests_total{backend="flaky",code="200",route="flaky",version=""} 30`) {
		t.Errorf("%s", grepLines(m, "cutover_requests_total"))
	}
}

// Envoy's circuit breaker: with one connection and one pending request
// allowed, the third concurrent request gets 503 overflow at once.
func TestCircuitBreakerOverflow(t *testing.T) {
	release := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) { <-release })
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - name: slow
    endpoints: [%s]
    circuitBreaker: {maxConnections: 1, maxPendingRequests: 1, maxRequests: 10}
  routes:
  - name: web
    backends: [{name: slow}]
`, slow.URL)))
	client := loadClient(5)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 5 {
		wg.Go(func() {
			resp, err := client.Get(h.url + "/")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("X-Cutover-Reason"))]++
			mu.Unlock()
		})
	}
	waitFor(t, "three overflows", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return codes["503 overflow"] == 3
	})
	close(release)
	wg.Wait()
	if codes["200 "] != 2 || codes["503 overflow"] != 3 {
		t.Fatalf("answers %v, want 2 served and 3 overflows", codes)
	}
	if m := h.metricsText(); !strings.Contains(m, `cutover_overflow_total{backend="slow",limit="max_pending_requests"} 3`) {
		t.Errorf("%s", grepLines(m, "cutover_overflow_total"))
	}
}
