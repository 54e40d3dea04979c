package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/spec"
)

// The load provider in an analysis run: a healthy canary passes the
// conditions on result.p99 and result.errorRate, a slow one fails them.
func TestLoadProviderPassesHealthyAndFailsSlow(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Canary") != "always" {
			http.Error(w, "not the canary", http.StatusBadRequest)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer healthy.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer slow.Close()
	for _, tc := range []struct {
		url  string
		want analysis.Phase
	}{{healthy.URL, analysis.Successful}, {slow.URL, analysis.Failed}} {
		m := spec.Metric{
			Name: "load-test", Count: 1,
			SuccessCondition: "result.p99 < 0.2 && result.errorRate < 0.01 && result.rps >= 45",
			Provider: spec.Provider{Load: &spec.LoadProvider{URL: tc.url, Rate: "50/s", Duration: spec.Duration(2 * time.Second),
				Headers: map[string]string{"X-Canary": "always"}}},
		}
		inf := 0
		m.ConsecutiveErrorLimit = &inf
		r := analysis.NewRun("load", []spec.Metric{m}, time.Now(), false)
		var seen []analysis.Measurement
		for deadline := time.Now().Add(30 * time.Second); !r.Done() && time.Now().Before(deadline); {
			r.Tick(context.Background(), time.Now(), analysis.ProviderSet{Load: Provider{}}, analysis.Sides{}, func(_ string, m analysis.Measurement) { seen = append(seen, m) })
		}
		if r.Phase != tc.want {
			t.Errorf("%s: %s, want %s (%+v)", tc.url, r.Phase, tc.want, seen)
		}
		if len(seen) == 0 || !strings.Contains(seen[0].Value, "rps:") || !strings.Contains(seen[0].Value, "p99:") {
			t.Errorf("the measurement's value %+v does not show the figures", seen)
		}
	}
}
