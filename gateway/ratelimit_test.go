package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Handbook §13.3 over real HTTP: 70 requests at once against Envoy's token
// bucket (max_tokens 50, tokens_per_fill 10, fill_interval 1s) and nginx's
// leaky bucket (rate=10r/s burst=50 delay=10).
func TestLocalRateLimitsHandbookTable(t *testing.T) {
	b := newBackend(t, "app", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: envoy
    match: [{path: {prefix: /envoy}}]
    backends: [{name: app}]
    rateLimits:
    - name: pod
      key: {route: true}
      tokenBucket: {maxTokens: 50, tokensPerFill: 10, fillInterval: 1s}
  - name: nginx
    match: [{path: {prefix: /nginx}}]
    backends: [{name: app}]
    rateLimits:
    - name: pod
      key: {route: true}
      leakyBucket: {rate: 10r/s, burst: 50, delay: 10}
  - name: warm
    backends: [{name: app}]
`, b.URL)))
	type result struct {
		code    int
		limited string
		took    time.Duration
	}
	client := loadClient(70)
	fire := func(path string) []result {
		out := make([]result, 70)
		var wg sync.WaitGroup
		for i := range out {
			wg.Go(func() {
				start := time.Now()
				resp, err := client.Get(h.url + path)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				out[i] = result{resp.StatusCode, resp.Header.Get("X-Cutover-Ratelimited"), time.Since(start)}
			})
		}
		wg.Wait()
		return out
	}
	count := func(rs []result) (passed, refused int, slowest time.Duration) {
		for _, r := range rs {
			switch {
			case r.code == 429 && r.limited == "local":
				refused++
			case r.code == 200:
				passed++
				slowest = max(slowest, r.took)
			}
		}
		return
	}
	// Open the 70 connections first, so that the burst arrives within a
	// few milliseconds; the gateway's own counters say which were held back.
	fire("/warm")
	p, r, slowest := count(fire("/envoy"))
	if p != 50 || r != 20 || slowest > time.Second {
		t.Errorf("token bucket: %d passed (slowest %v), %d refused; want 50 at once, 20 refused", p, slowest, r)
	}
	p, r, slowest = count(fire("/nginx"))
	t.Logf("leaky bucket: %d passed, the last after %v; %d refused", p, slowest.Round(100*time.Millisecond), r)
	if p != 51 || r != 19 || slowest < 3500*time.Millisecond || slowest > 5*time.Second {
		t.Errorf("leaky bucket: %d passed (last after %v), %d refused; want 51 (the last after about 4s), 19", p, slowest, r)
	}
	m := h.metricsText()
	for _, want := range []string{
		`cutover_ratelimit_total{limiter="pod",result="allowed",route="envoy"} 50`,
		`cutover_ratelimit_total{limiter="pod",result="limited",route="envoy"} 20`,
		`cutover_ratelimit_total{limiter="pod",result="allowed",route="nginx"} 11`,
		`cutover_ratelimit_total{limiter="pod",result="delayed",route="nginx"} 40`,
		`cutover_ratelimit_total{limiter="pod",result="limited",route="nginx"} 19`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "cutover_ratelimit_total"))
		}
	}
}

func TestRateLimitKeysAndDryRun(t *testing.T) {
	b := newBackend(t, "app", nil)
	h := startGateway(t, config(fmt.Sprintf(`  trustedProxies: [127.0.0.1]
  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: users
    match: [{path: {prefix: /users/}}]
    backends: [{name: app}]
    rateLimits:
    - {name: per-user, key: {pathRegex: '^/users/([^/]+)'}, tokenBucket: {maxTokens: 2, tokensPerFill: 1, fillInterval: 1h}}
  - name: dry
    match: [{path: {prefix: /dry}}]
    backends: [{name: app}]
    rateLimits:
    - {name: all, key: {route: true}, tokenBucket: {maxTokens: 1, tokensPerFill: 1, fillInterval: 1h}, dryRun: true}
  - name: ip
    backends: [{name: app}]
    rateLimits:
    - {name: per-ip, key: {clientIP: true}, tokenBucket: {maxTokens: 1, tokensPerFill: 1, fillInterval: 1h}, status: 503}
`, b.URL)))
	codes := func(path string, n int, hdr ...string) []int {
		var out []int
		for range n {
			code, _ := h.get(path, hdr...)
			out = append(out, code)
		}
		return out
	}
	if got := fmt.Sprint(codes("/users/ann/x", 3)); got != "[200 200 429]" {
		t.Errorf("ann: %s", got)
	}
	if got := fmt.Sprint(codes("/users/bob", 2)); got != "[200 200]" {
		t.Errorf("bob has a bucket of his own: %s", got)
	}
	if got := fmt.Sprint(codes("/dry", 3)); got != "[200 200 200]" {
		t.Errorf("dry run limited: %s", got)
	}
	// The peer 127.0.0.1 is trusted: the client is the last untrusted hop.
	if got := fmt.Sprint(codes("/", 2, "X-Forwarded-For", "203.0.113.1, 127.0.0.1")); got != "[200 503]" {
		t.Errorf("203.0.113.1 via a trusted proxy: %s", got)
	}
	if got := fmt.Sprint(codes("/", 1, "X-Forwarded-For", "203.0.113.2")); got != "[200]" {
		t.Errorf("another client behind the same proxy shares its bucket: %s", got)
	}
	m := h.metricsText()
	if !strings.Contains(m, `cutover_ratelimit_total{limiter="all",result="dry_run",route="dry"} 2`) {
		t.Errorf("dry run not counted:\n%s", grepLines(m, "cutover_ratelimit_total"))
	}
}

func TestUntrustedForwardedForIsIgnored(t *testing.T) {
	b := newBackend(t, "app", nil)
	h := startGateway(t, config(fmt.Sprintf(`  trustedProxies: [10.0.0.0/8]
  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: ip
    backends: [{name: app}]
    rateLimits:
    - {name: per-ip, key: {clientIP: true}, tokenBucket: {maxTokens: 1, tokensPerFill: 1, fillInterval: 1h}}
`, b.URL)))
	// The peer 127.0.0.1 is not trusted, so a forged header cannot buy a
	// fresh bucket.
	first, _ := h.get("/", "X-Forwarded-For", "198.51.100.1")
	second, _ := h.get("/", "X-Forwarded-For", "198.51.100.2")
	if first != 200 || second != http.StatusTooManyRequests {
		t.Fatalf("forged X-Forwarded-For: %d then %d, want 200 then 429", first, second)
	}
}
