package datadog

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/spec"
)

// fakeDatadog answers as Datadog's API reference documents
// (GET /api/v1/query, POST /api/v2/query/scalar), checking the keys; it
// stands in for Datadog, which cannot run here. answer is the JSON to send.
func fakeDatadog(t *testing.T, answer *string, seen *[]string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("DD-API-KEY") != "api" || r.Header.Get("DD-APPLICATION-KEY") != "app" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors": ["Forbidden"]}`)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/query":
			q := r.URL.Query()
			*seen = append(*seen, "v1 "+q.Get("query")+" from="+q.Get("from")+" to="+q.Get("to"))
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/query/scalar":
			b, _ := io.ReadAll(r.Body)
			*seen = append(*seen, "v2 "+string(b))
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, *answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func measure(t *testing.T, p Provider, dd *spec.DatadogProvider, cond string) analysis.Measurement {
	t.Helper()
	none := 0
	m := spec.Metric{Name: "dd", Count: 1, SuccessCondition: cond, ConsecutiveErrorLimit: &none, Provider: spec.Provider{Datadog: dd}}
	r := analysis.NewRun("dd", []spec.Metric{m}, time.Now(), false)
	var seen []analysis.Measurement
	for deadline := time.Now().Add(10 * time.Second); !r.Done() && time.Now().Before(deadline); {
		r.Tick(context.Background(), time.Now(), analysis.ProviderSet{Datadog: p}, analysis.Sides{}, func(_ string, m analysis.Measurement) { seen = append(seen, m) })
	}
	if len(seen) == 0 {
		t.Fatal("no measurement")
	}
	return seen[len(seen)-1]
}

func TestDatadogV1LastPoint(t *testing.T) {
	var answer string
	var seen []string
	now := time.Unix(1_700_000_000, 0)
	p := Provider{Address: fakeDatadog(t, &answer, &seen), APIKey: "api", AppKey: "app", Now: func() time.Time { return now }}
	dd := &spec.DatadogProvider{Query: "sum:requests.error.rate{service:checkout}", Interval: spec.Duration(5 * time.Minute)}
	answer = `{"status": "ok", "series": [{"metric": "requests.error.rate", "pointlist": [[1699999700000, 0.2], [1700000000000, 0.01]]}]}`
	if m := measure(t, p, dd, "result < 0.05"); m.Phase != analysis.Successful || m.Value != "0.01" {
		t.Fatalf("last point: %+v", m)
	}
	if want := "v1 sum:requests.error.rate{service:checkout} from=1699999700 to=1700000000"; seen[0] != want {
		t.Fatalf("query %q, want %q", seen[0], want)
	}
	answer = `{"status": "ok", "series": []}`
	if m := measure(t, p, dd, "default(result, 0) < 0.05"); m.Phase != analysis.Successful {
		t.Fatalf("no data: %+v", m)
	}
	if m := measure(t, p, dd, "isNil(result)"); m.Phase != analysis.Successful {
		t.Fatalf("no data is nil: %+v", m)
	}
	p.AppKey = "wrong"
	if m := measure(t, p, dd, "result < 0.05"); m.Phase != analysis.Error || !strings.Contains(m.Message, "received authentication error response code: 403") {
		t.Fatalf("bad key: %+v", m)
	}
}

func TestDatadogV2ScalarWithFormula(t *testing.T) {
	var answer string
	var seen []string
	now := time.Unix(1_700_000_000, 0)
	p := Provider{Address: fakeDatadog(t, &answer, &seen), APIKey: "api", AppKey: "app", Now: func() time.Time { return now }}
	dd := &spec.DatadogProvider{APIVersion: "v2", Interval: spec.Duration(time.Minute), Aggregator: "avg", Formula: "a / b",
		Queries: map[string]string{"a": "sum:errors{*}.as_count()", "b": "sum:requests{*}.as_count()"}}
	answer = `{"data": {"type": "scalar_response", "attributes": {"columns": [{"name": "a / b", "type": "number", "values": [0.002]}]}}}`
	if m := measure(t, p, dd, "result <= 0.01"); m.Phase != analysis.Successful || m.Value != "0.002" {
		t.Fatalf("scalar: %+v", m)
	}
	var body struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				From, To int64
				Queries  []map[string]string
				Formulas []map[string]string
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(seen[0], "v2 ")), &body); err != nil {
		t.Fatal(err)
	}
	a := body.Data.Attributes
	if body.Data.Type != "scalar_request" || a.From != 1_699_999_940_000 || a.To != 1_700_000_000_000 || len(a.Queries) != 2 ||
		a.Queries[0]["aggregator"] != "avg" || a.Queries[0]["data_source"] != "metrics" || a.Formulas[0]["formula"] != "a / b" {
		t.Fatalf("request %s", seen[0])
	}
	answer = `{"data": {"type": "scalar_response", "attributes": {"columns": []}}, "errors": "unknown metric"}`
	if m := measure(t, p, dd, "result <= 0.01"); m.Phase != analysis.Error || !strings.Contains(m.Message, "unknown metric") {
		t.Fatalf("query error: %+v", m)
	}
}

func TestDatadogKeysFromTheEnvironment(t *testing.T) {
	var answer = `{"series": [{"pointlist": [[1, 3]]}]}`
	var seen []string
	t.Setenv("DD_ADDRESS", fakeDatadog(t, &answer, &seen))
	t.Setenv("DD_API_KEY", "api")
	t.Setenv("DD_APP_KEY", "app")
	if m := measure(t, Provider{}, &spec.DatadogProvider{Query: "x", Interval: spec.Duration(time.Minute)}, "result == 3"); m.Phase != analysis.Successful {
		t.Fatalf("%+v", m)
	}
	t.Setenv("DD_APP_KEY", "")
	if m := measure(t, Provider{}, &spec.DatadogProvider{Query: "x"}, "result == 3"); m.Phase != analysis.Error || !strings.Contains(m.Message, "set DD_API_KEY and DD_APP_KEY") {
		t.Fatalf("%+v", m)
	}
}
