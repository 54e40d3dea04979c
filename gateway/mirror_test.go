package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMirrorPercentIsExactAndCountedApart(t *testing.T) {
	var copies, marked atomic.Int64
	var hosts sync.Map
	primary := newBackend(t, "primary", nil)
	shadow := newBackend(t, "shadow", func(w http.ResponseWriter, r *http.Request) {
		copies.Add(1)
		if r.Header.Get("X-Cutover-Mirror") == "1" {
			marked.Add(1)
		}
		hosts.Store(r.Host, true)
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: primary, endpoints: [%s]}
  - {name: shadow, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: primary}]
    mirror: {backend: shadow, percent: 10, shadowHost: true}
`, primary.URL, shadow.URL)))
	for range 1000 {
		if code, b := h.get("/", "Host", "shop.example.com"); code != 200 || b != "primary" {
			t.Fatalf("%d from %q", code, b)
		}
	}
	waitFor(t, "the copies", 5*time.Second, func() bool { return copies.Load() >= 100 })
	time.Sleep(100 * time.Millisecond)
	if copies.Load() != 100 || marked.Load() != 100 {
		t.Fatalf("10%% of 1,000 requests sent %d copies (%d marked), want exactly 100", copies.Load(), marked.Load())
	}
	if _, ok := hosts.Load("shop.example.com-shadow"); !ok {
		t.Errorf("the copies' Host lacks -shadow: %v", hostsOf(&hosts))
	}
	var m string
	waitFor(t, "the copies to be counted", 5*time.Second, func() bool {
		m = h.metricsText()
		return strings.Contains(m, `cutover_mirror_requests_total{backend="shadow",code="200",route="web"} 100`)
	})
	if !strings.Contains(m, `cutover_requests_total{backend="primary",code="200",route="web",version=""} 1000`) {
		t.Errorf("real requests miscounted:\n%s", grepLines(m, "cutover_requests_total"))
	}
	if strings.Contains(m, `cutover_requests_total{backend="shadow"`) {
		t.Errorf("mirrored requests counted as real ones:\n%s", grepLines(m, "cutover_requests_total"))
	}
}

func hostsOf(m *sync.Map) []string {
	var out []string
	m.Range(func(k, _ any) bool { out = append(out, k.(string)); return true })
	return out
}

// A shadow that takes 2 s does not slow the primary: its p99 with the
// mirror stays within 10 % of the p99 without. Both routes are measured in
// one interleaved loop, so the machine's noise falls on both alike.
func TestMirrorNeverDelaysThePrimary(t *testing.T) {
	// The primary takes 40 ms, like a real page, so that a millisecond of
	// scheduling noise does not decide the comparison.
	primary := newBackend(t, "primary", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(40 * time.Millisecond)
	})
	slowShadow := newBackend(t, "shadow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Second)
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: primary, endpoints: [%s]}
  - {name: shadow, endpoints: [%s]}
  routes:
  - name: mirrored
    match: [{path: {prefix: /m}}]
    backends: [{name: primary}]
    mirror: {backend: shadow, percent: 100, maxInFlight: 200, timeout: 5s}
  - name: plain
    backends: [{name: primary}]
`, primary.URL, slowShadow.URL)))
	client := loadClient(16)
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 125 {
				path := "/plain"
				if (i+w)%2 == 0 {
					path = "/m"
				}
				start := time.Now()
				resp, err := client.Get(h.url + path)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				mu.Lock()
				lat[path] = append(lat[path], d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	p99 := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)*99/100]
	}
	with, without := p99(lat["/m"]), p99(lat["/plain"])
	t.Logf("p99 over %d requests with a 2 s shadow: %v; without a mirror: %v", len(lat["/m"]), with, without)
	if len(lat["/m"]) != 1000 || float64(with) > 1.1*float64(without) {
		t.Fatalf("with the mirror p99 is %v, more than 10%% over %v", with, without)
	}
	// 1000 copies to a 2 s shadow, 200 at a time: most were dropped, and counted.
	if m := h.metricsText(); !regexpFind(`cutover_mirror_dropped_total\{reason="pool_full",route="mirrored"\} [1-9]\d*`, m) {
		t.Errorf("dropped copies not counted:\n%s", grepLines(m, "cutover_mirror"))
	}
}

func TestMirrorComparesAnswers(t *testing.T) {
	primary := newBackend(t, "primary", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "price: 100")
	})
	shadow := newBackend(t, "shadow", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			fmt.Fprint(w, "price: 100")
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		default:
			fmt.Fprint(w, "price: 120")
		}
	})
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: primary, endpoints: [%s]}
  - {name: shadow, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: primary}]
    mirror:
      backend: shadow
      methods: [GET, POST]
      maxBodyBytes: 1024
      compare: {status: true, body: true}
`, primary.URL, shadow.URL)))
	for _, path := range []string{"/same", "/same", "/missing", "/price"} {
		h.get(path)
	}
	// A body over maxBodyBytes is served, not mirrored.
	resp, err := h.client.Post(h.url+"/upload", "text/plain", strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a big POST: %v %v", resp, err)
	}
	resp.Body.Close()
	var diffs struct {
		Diffs []struct {
			Kind, Method, Path          string
			PrimaryStatus, ShadowStatus int
			PrimaryBody, ShadowBody     string
		}
	}
	waitFor(t, "two diffs", 5*time.Second, func() bool {
		h.api(http.MethodGet, "/api/v1/routes/web/diffs", nil, &diffs)
		return len(diffs.Diffs) == 2
	})
	// Copies complete in any order.
	slices.SortFunc(diffs.Diffs, func(a, b struct {
		Kind, Method, Path          string
		PrimaryStatus, ShadowStatus int
		PrimaryBody, ShadowBody     string
	}) int {
		return strings.Compare(a.Path, b.Path)
	})
	got := fmt.Sprintf("%+v", diffs.Diffs)
	want := "[{Kind:status Method:GET Path:/missing PrimaryStatus:200 ShadowStatus:404 PrimaryBody:price: 100 ShadowBody:} {Kind:body Method:GET Path:/price PrimaryStatus:200 ShadowStatus:200 PrimaryBody:price: 100 ShadowBody:price: 120}]"
	if got != want {
		t.Fatalf("diffs\n%s\nwant\n%s", got, want)
	}
	// Side by side: each side's headers as compared, which differ, and
	// each whole body's hash.
	var full struct {
		Diffs []struct {
			Path                                string
			PrimaryHeaders, ShadowHeaders       http.Header
			DifferentHeaders                    []string
			PrimaryBodySha256, ShadowBodySha256 string
		}
	}
	h.api(http.MethodGet, "/api/v1/routes/web/diffs", nil, &full)
	sum := func(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }
	found := false
	for _, d := range full.Diffs {
		if d.Path != "/price" {
			continue
		}
		found = true
		if d.PrimaryBodySha256 != sum("price: 100") || d.ShadowBodySha256 != sum("price: 120") {
			t.Errorf("body hashes %s %s", d.PrimaryBodySha256, d.ShadowBodySha256)
		}
		if d.PrimaryHeaders.Get("X-Backend") != "primary" || d.ShadowHeaders.Get("X-Backend") != "shadow" || d.PrimaryHeaders.Get("Date") != "" ||
			!slices.Equal(d.DifferentHeaders, []string{"X-Backend"}) {
			t.Errorf("headers %v / %v, differing %v", d.PrimaryHeaders, d.ShadowHeaders, d.DifferentHeaders)
		}
	}
	if !found {
		t.Fatalf("no diff of /price: %+v", full.Diffs)
	}
	// The copies finish on their own time: wait for all four comparisons.
	wantMetrics := []string{
		`cutover_mirror_diff_total{kind="same",route="web"} 2`,
		`cutover_mirror_diff_total{kind="status",route="web"} 1`,
		`cutover_mirror_diff_total{kind="body",route="web"} 1`,
		`cutover_mirror_dropped_total{reason="body_too_large",route="web"} 1`,
	}
	var m string
	waitFor(t, "four comparisons", 5*time.Second, func() bool {
		m = h.metricsText()
		for _, w := range wantMetrics {
			if !strings.Contains(m, w) {
				return false
			}
		}
		return true
	})
}
