package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func healthConfig(legacy1, legacy2, next string, failOpen bool) string {
	return config(fmt.Sprintf(`  backends:
  - name: legacy
    endpoints: [%s, %s]
    healthCheck: {path: /healthz, interval: 100ms, timeout: 100ms, unhealthyThreshold: 2, healthyThreshold: 1}
    passive: {consecutiveFailures: 3, ejectionTime: 30s}
    failOpen: %v
  - name: new
    endpoints: [%s]
  routes:
  - name: web
    backends:
    - name: legacy
      weight: 50
    - name: new
      weight: 50
`, legacy1, legacy2, failOpen, next))
}

// Killing one of two legacy endpoints under load costs at most the requests
// in flight to it; killing both moves legacy's share to new.
func TestKillingEndpointsUnderLoad(t *testing.T) {
	l1, l2, next := newBackend(t, "legacy", nil), newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	h := startGateway(t, healthConfig(l1.URL, l2.URL, next.URL, false))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resCh := make(chan *loadResult)
	go func() { resCh <- runLoad(ctx, loadClient(16), h.url+"/", 16) }()

	time.Sleep(500 * time.Millisecond)
	inflight := l1.inflight.Load()
	l1.Listener.Close()
	l1.CloseClientConnections()
	inflight = max(inflight, l1.inflight.Load())
	time.Sleep(time.Second)
	l2Hits := l2.hits.Load()
	if l2Hits == 0 {
		t.Fatal("the surviving legacy endpoint took no requests")
	}
	res := <-resCh
	lost := res.non2xx.Load() + res.errors.Load()
	t.Logf("ok %d, lost %d, in flight at kill %d", res.ok.Load(), lost, inflight)
	if lost > inflight {
		t.Fatalf("killing one endpoint lost %d requests, more than the %d in flight (first: %v)", lost, inflight, res.firstErr.Load())
	}

	// Now both: legacy's share goes to new.
	l2.CloseClientConnections()
	l2.Listener.Close()
	waitFor(t, "legacy to be marked down", 3*time.Second, func() bool {
		return !h.gw.Status().Routes[0].Backends[0].Healthy
	})
	// Health survives a reload for the endpoints that stay.
	writeConfig(t, h.file, strings.Replace(healthConfig(l1.URL, l2.URL, next.URL, false), "timeout: 100ms, unhealthyThreshold", "timeout: 90ms, unhealthyThreshold", 1))
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if st := h.gw.Status(); st.Routes[0].Backends[0].Healthy || st.Backends[0].Endpoints[0].Healthy {
		t.Fatalf("a reload forgot that legacy is down: %+v", st.Backends[0])
	}
	newBefore := next.hits.Load()
	for range 100 {
		if code, b := h.get("/"); code != 200 || b != "new" {
			t.Fatalf("with legacy down got %d from %q, want 200 from new", code, b)
		}
	}
	if got := next.hits.Load() - newBefore; got != 100 {
		t.Fatalf("new took %d of 100 requests", got)
	}
	if st := h.gw.Status(); st.Routes[0].Backends[1].Effective != 100 {
		t.Fatalf("effective weight of new is %v, want 100", st.Routes[0].Backends[1].Effective)
	}
}

// With failOpen, a backend whose health checks all fail still gets its
// share, as an ALB target group does; without it, the share moves away.
func TestFailOpen(t *testing.T) {
	var healthy atomic.Bool
	failingChecks := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "legacy")
	}
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("failOpen=%v", failOpen), func(t *testing.T) {
			l1, l2 := newBackend(t, "legacy", failingChecks), newBackend(t, "legacy", failingChecks)
			next := newBackend(t, "new", nil)
			h := startGateway(t, healthConfig(l1.URL, l2.URL, next.URL, failOpen))
			waitFor(t, "both legacy endpoints to fail their checks", 3*time.Second, func() bool {
				st := h.gw.Status()
				return !st.Backends[0].Endpoints[0].ActiveCheck && !st.Backends[0].Endpoints[1].ActiveCheck
			})
			counts := map[string]int{}
			for range 100 {
				code, b := h.get("/")
				if code != 200 {
					t.Fatalf("status %d", code)
				}
				counts[b]++
			}
			if failOpen && counts["legacy"] != 50 || !failOpen && counts["new"] != 100 {
				t.Fatalf("split %v", counts)
			}
		})
	}
}

func TestNothingHealthyIs503WithReason(t *testing.T) {
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - name: gone
    endpoints: [%s]
    passive: {consecutiveFailures: 1, ejectionTime: 1m}
  routes:
  - name: web
    backends: [{name: gone}]
`, deadAddr(t))))
	resp, err := h.client.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || resp.Header.Get("X-Cutover-Reason") != "upstream-connect-error" {
		t.Fatalf("first request: %d %q, want 502 upstream-connect-error", resp.StatusCode, resp.Header.Get("X-Cutover-Reason"))
	}
	// The failure ejected the only endpoint.
	resp, err = h.client.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("X-Cutover-Reason") != "no-healthy-upstream" {
		t.Fatalf("second request: %d %q, want 503 no-healthy-upstream", resp.StatusCode, resp.Header.Get("X-Cutover-Reason"))
	}
}

// The share of a newly added endpoint follows Envoy's slow-start ramp.
func TestSlowStartRamp(t *testing.T) {
	old, added := newBackend(t, "old", nil), newBackend(t, "added", nil)
	cfg := func(endpoints string) string {
		return config(fmt.Sprintf(`  backends:
  - name: app
    endpoints: [%s]
    slowStart: {window: 8s, aggression: 1, minWeightPercent: 10}
  routes:
  - name: web
    backends: [{name: app}]
`, endpoints))
	}
	h := startGateway(t, cfg(old.URL))
	writeConfig(t, h.file, cfg(old.URL+", "+added.URL))
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	type sample struct {
		at    time.Duration
		added bool
	}
	var samples []sample
	client := loadClient(1)
	for time.Since(start) < 7*time.Second {
		resp, err := client.Get(h.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		samples = append(samples, sample{time.Since(start), resp.Header.Get("X-Backend") == "added"})
	}
	// The old endpoint is warm (weight 1), the added one has factor
	// max(0.1, t/window): its share is f/(1+f).
	window := 8 * time.Second
	for _, frac := range []float64{0.25, 0.5, 0.75} {
		center := time.Duration(frac * float64(window))
		n, a := 0, 0
		for _, s := range samples {
			if d := s.at - center; d > -300*time.Millisecond && d < 300*time.Millisecond {
				n++
				if s.added {
					a++
				}
			}
		}
		if n < 200 {
			t.Fatalf("only %d samples around %v", n, center)
		}
		got := 100 * float64(a) / float64(n)
		want := 100 * frac / (1 + frac)
		t.Logf("at %.0f%% of the window: added endpoint has %.1f%% of %d requests, ramp says %.1f%%", frac*100, got, n, want)
		if got < want-5 || got > want+5 {
			t.Errorf("at %.0f%% of the window the added endpoint has %.1f%%, want %.1f%% ± 5", frac*100, got, want)
		}
	}
}
