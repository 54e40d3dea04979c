package loadtest

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/time/rate"
)

// limited serves at most n requests per second by design, answering 503
// beyond.
func limited(t *testing.T, n int) string {
	l := rate.NewLimiter(rate.Limit(n), n/20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.Allow() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// --find-limit against a server that serves 300 rps at most reports 300
// within 10 %.
func TestFindLimitFindsTheServersLimit(t *testing.T) {
	const n = 300
	url := limited(t, n)
	slo, err := ParseSLO("errors<1%")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Targets: vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})}
	limit, steps := FindLimit(context.Background(), o, slo, 50, 0, time.Second, nil)
	if math.Abs(limit-n)/n > 0.10 {
		for _, s := range steps {
			t.Logf("%.0f/s held=%v %s", s.Rate, s.Held, s.Why)
		}
		t.Fatalf("limit %.0f/s, want %d ± 10 %%", limit, n)
	}
	if last := steps[len(steps)-1]; len(steps) > 20 {
		t.Fatalf("%d steps (last %v): the search does not converge", len(steps), last.Rate)
	}
	// The steps drawn as latency against rate: a PNG of the plot's size.
	var img bytes.Buffer
	if err := RatePlot(&img, steps); err != nil {
		t.Fatal(err)
	}
	pic, err := png.Decode(&img)
	if err != nil || pic.Bounds().Dx() < 500 {
		t.Fatalf("rate plot: %v %v", err, pic)
	}
}

// A constant rate is held, and the results written as vegeta writes them
// are read back by vegeta's decoder.
func TestRunHoldsTheRateAndWritesVegetaResults(t *testing.T) {
	url := limited(t, 10000)
	var buf bytes.Buffer
	enc := vegeta.NewJSONEncoder(&buf)
	var tally Tally
	r, _ := ParseRate("200/s")
	m := Run(context.Background(), Options{Targets: vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url}), Pacer: r, Duration: 2 * time.Second},
		func(r *vegeta.Result) { enc.Encode(r) }, tally.Add)
	if m.Requests < 390 || m.Requests > 410 || m.Success != 1 {
		t.Fatalf("%d requests at 200/s for 2 s, success %.2f", m.Requests, m.Success)
	}
	dec := vegeta.DecoderFor(&buf)
	n := 0
	for {
		var res vegeta.Result
		if dec.Decode(&res) != nil {
			break
		}
		n++
	}
	if n != int(m.Requests) {
		t.Fatalf("decoded %d results of %d", n, m.Requests)
	}
	var report bytes.Buffer
	if err := tally.Report(&report, m); err != nil || !strings.Contains(report.String(), "Latency histogram") || !strings.Contains(report.String(), "Status Codes") {
		t.Fatalf("report: %v\n%s", err, report.String())
	}
}

func TestParsers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		freq int
		per  time.Duration
	}{{"100", 100, time.Second}, {"100/s", 100, time.Second}, {"6000/1m", 6000, time.Minute}, {"6000/m", 6000, time.Minute}} {
		r, err := ParseRate(tc.in)
		if err != nil || r.Freq != tc.freq || r.Per != tc.per {
			t.Errorf("rate %q: %v %v", tc.in, r, err)
		}
	}
	for _, bad := range []string{"0", "x/s", "10/0s", "-1"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("rate %q accepted", bad)
		}
	}
	p, d, err := ParseRamp("100:2000/60s")
	lp, ok := p.(vegeta.LinearPacer)
	if err != nil || !ok || d != time.Minute || lp.Rate(0) != 100 || math.Abs(lp.Rate(time.Minute)-2000) > 1e-6 {
		t.Errorf("ramp: %v %v %v", p, d, err)
	}
	slo, err := ParseSLO("p99<200ms,errors<1%")
	if err != nil || slo.Quantile != 0.99 || slo.MaxLatency != 200*time.Millisecond || slo.MaxErrors != 0.01 {
		t.Errorf("slo: %+v %v", slo, err)
	}
	for _, bad := range []string{"p99=200ms", "errors<1", "p100<1s", "q99<1s"} {
		if _, err := ParseSLO(bad); err == nil {
			t.Errorf("slo %q accepted", bad)
		}
	}
}
