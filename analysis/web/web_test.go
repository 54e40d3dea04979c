package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/spec"
)

// runOnce runs a metric with one measurement against the provider.
func runOnce(t *testing.T, m spec.Metric) (analysis.Phase, analysis.Measurement) {
	t.Helper()
	m.Count = 1
	none := 0
	m.ConsecutiveErrorLimit = &none
	r := analysis.NewRun("web", []spec.Metric{m}, time.Now(), false)
	var seen []analysis.Measurement
	for deadline := time.Now().Add(10 * time.Second); !r.Done() && time.Now().Before(deadline); {
		r.Tick(context.Background(), time.Now(), analysis.ProviderSet{Web: Provider{}}, analysis.Sides{}, func(_ string, m analysis.Measurement) { seen = append(seen, m) })
	}
	if len(seen) == 0 {
		t.Fatalf("no measurement; run %s", r.Phase)
	}
	return r.Phase, seen[len(seen)-1]
}

// Argo's documented example: the value at jsonPath "{$.data}" is result,
// its fields named in the condition.
func TestWebMetricJSONPath(t *testing.T) {
	var answer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0k" {
			http.Error(w, "who?", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	m := spec.Metric{
		Name:             "webmetric",
		SuccessCondition: "result.ok && result.successPercent >= 0.90",
		Provider: spec.Provider{Web: &spec.WebProvider{
			URL: srv.URL + "/api/v1/status", JSONPath: "{$.data}",
			Headers: []spec.WebHeader{{Key: "Authorization", Value: "Bearer t0k"}},
		}},
	}
	answer = `{"data": {"ok": true, "successPercent": 0.95}}`
	if phase, meas := runOnce(t, m); phase != analysis.Successful || !strings.Contains(meas.Value, "successPercent") {
		t.Fatalf("healthy: %s %+v", phase, meas)
	}
	answer = `{"data": {"ok": true, "successPercent": 0.5}}`
	if phase, _ := runOnce(t, m); phase != analysis.Failed {
		t.Fatalf("unhealthy: %s", phase)
	}
	// A single number is result itself.
	answer = `{"data": {"ok": true, "successPercent": 0.95}}`
	m.Provider.Web.JSONPath, m.SuccessCondition = "{$.data.successPercent}", "result >= 0.9"
	if phase, meas := runOnce(t, m); phase != analysis.Successful || meas.Value != "0.95" {
		t.Fatalf("scalar: %s %+v", phase, meas)
	}
}

// An answer that is not JSON is a success with the body as its value, and
// a non-2xx answer an error, as in Argo.
func TestWebMetricPlainAndErrorAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		io.WriteString(w, "all good")
	}))
	defer srv.Close()
	m := spec.Metric{Name: "plain", SuccessCondition: "false", Provider: spec.Provider{Web: &spec.WebProvider{URL: srv.URL + "/"}}}
	if phase, meas := runOnce(t, m); phase != analysis.Successful || meas.Value != "all good" {
		t.Fatalf("plain: %s %+v", phase, meas)
	}
	m.Provider.Web.URL = srv.URL + "/down"
	if _, meas := runOnce(t, m); meas.Phase != analysis.Error || !strings.Contains(meas.Message, "received non 2xx response code: 503") {
		t.Fatalf("503: %+v", meas)
	}
	m.Provider.Web.URL, m.Provider.Web.TimeoutSeconds = srv.URL+"/slow", 1
	if _, meas := runOnce(t, m); meas.Phase != analysis.Error || !strings.Contains(meas.Message, "deadline exceeded") {
		t.Fatalf("timeout: %+v", meas)
	}
}

// jsonBody is sent as JSON with its content type; body as it is.
func TestWebMetricPostBodies(t *testing.T) {
	var got struct{ method, ctype, body string }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.ctype, got.body = r.Method, r.Header.Get("Content-Type"), string(b)
		io.WriteString(w, `{"passed": 1}`)
	}))
	defer srv.Close()
	var body yaml.Node
	if err := yaml.Unmarshal([]byte("{service: checkout, window: 5m, thresholds: [0.9, 0.99]}"), &body); err != nil {
		t.Fatal(err)
	}
	m := spec.Metric{Name: "post", SuccessCondition: "result.passed == 1",
		Provider: spec.Provider{Web: &spec.WebProvider{URL: srv.URL, Method: "POST", JSONBody: body.Content[0]}}}
	if phase, _ := runOnce(t, m); phase != analysis.Successful {
		t.Fatalf("jsonBody: %s", phase)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(got.body), &sent); err != nil || got.method != "POST" || got.ctype != "application/json" ||
		sent["service"] != "checkout" || len(sent["thresholds"].([]any)) != 2 {
		t.Fatalf("sent %+v (%v)", got, err)
	}
	m.Provider.Web = &spec.WebProvider{URL: srv.URL, Method: "PUT", Body: "raw=1"}
	if phase, _ := runOnce(t, m); phase != analysis.Successful || got.method != "PUT" || got.body != "raw=1" || got.ctype != "" {
		t.Fatalf("body: %s %+v", phase, got)
	}
}
