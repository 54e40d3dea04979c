package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/admin/wire"
)

func seriesTotals(s wire.Series) map[string][2]int {
	out := map[string][2]int{}
	for _, b := range s.Backends {
		var req, errs int
		for i := range b.Seconds.Time {
			req += b.Seconds.Requests[i]
			errs += b.Seconds.Errors[i]
		}
		out[b.Backend] = [2]int{req, errs}
	}
	return out
}

// The per-second series count every answer of each backend, keep their
// past across reloads, start empty for a backend a reload adds and drop
// one it removes.
func TestSeriesAcrossReloads(t *testing.T) {
	legacy := newBackend(t, "legacy", nil)
	next := newBackend(t, "new", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	third := newBackend(t, "third", nil)
	cfg := twoBackendConfig(legacy.URL, next.URL, "")
	h := startGateway(t, cfg)
	h.setWeights("web", map[string]int{"legacy": 50, "new": 50})
	failed := 0
	for i := range 110 {
		path := "/"
		if i%11 == 0 {
			path = "/fail"
		}
		if code, _ := h.get(path); code == http.StatusBadGateway {
			failed++
		}
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond))) // the last second is whole

	var s wire.Series
	if code := h.api("GET", "/api/v1/routes/web/series", nil, &s); code != 200 {
		t.Fatalf("series: %d", code)
	}
	if len(s.Backends) != 2 || len(s.Backends[0].Seconds.Time) != 900 || s.To-s.From != 899 || s.Interval != 1 {
		t.Fatalf("series shape: %d backends, %d seconds, %d to %d", len(s.Backends), len(s.Backends[0].Seconds.Time), s.From, s.To)
	}
	got := seriesTotals(s)
	want := map[string][2]int{"legacy": {int(legacy.hits.Load()), 0}, "new": {int(next.hits.Load()), failed}}
	if got["legacy"] != want["legacy"] || got["new"] != want["new"] || failed == 0 || want["legacy"][0] == 0 {
		t.Fatalf("totals %v, want what the backends saw: %v", got, want)
	}
	last := s.Backends[1].Seconds
	seenLatency := false
	for i := range last.Time {
		if last.Requests[i] > 0 {
			seenLatency = seenLatency || last.P99[i] != nil && *last.P99[i] > 0 && *last.P99[i] < 1
		} else if last.P50[i] != nil {
			t.Fatalf("second %d has no answers but a p50", last.Time[i])
		}
	}
	if !seenLatency {
		t.Fatal("no second with answers has a p99")
	}

	// A reload adds a backend and removes another.
	writeConfig(t, h.file, strings.NewReplacer(
		"  - name: new\n    version: v2\n    endpoints: ["+next.URL+"]\n", "  - name: third\n    endpoints: ["+third.URL+"]\n",
		"    - name: new\n      weight: 10\n", "    - name: third\n      weight: 10\n",
	).Replace(cfg))
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	s = wire.Series{}
	h.api("GET", "/api/v1/routes/web/series?seconds=60", nil, &s)
	got = seriesTotals(s)
	if len(s.Backends) != 2 || len(s.Backends[0].Seconds.Time) != 60 || got["legacy"] != want["legacy"] || got["third"] != [2]int{0, 0} {
		t.Fatalf("after the reload: %v over %d seconds", got, len(s.Backends[0].Seconds.Time))
	}
	if _, ok := got["new"]; ok {
		t.Fatal("a removed backend is still listed")
	}

	for _, tc := range []struct{ path, field string }{
		{"/api/v1/routes/web/series?seconds=0", "seconds"},
		{"/api/v1/routes/web/series?seconds=901", "seconds"},
		{"/api/v1/routes/web/series?seconds=ten", "seconds"},
		{"/api/v1/routes/nope/series", "route"},
	} {
		var e struct{ Error, Field string }
		if code := h.api("GET", tc.path, nil, &e); code != http.StatusBadRequest || e.Field != tc.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", tc.path, code, e, tc.field)
		}
	}
}
