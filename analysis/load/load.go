package load

import (
	"context"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/loadtest"
	"github.com/cutover-dev/cutover/spec"
)

// Provider drives a metric's load with cutover load's attacker.
type Provider struct{}

// Measure implements analysis.Provider: result has rps (achieved), p50
// and p99 (seconds), errorRate and requests.
func (Provider) Measure(ctx context.Context, m *spec.Metric, _ time.Time, _ analysis.Sides) (analysis.Measurement, any, error) {
	l := m.Provider.Load
	rate, err := loadtest.ParseRate(l.Rate)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	method := l.Method
	if method == "" {
		method = http.MethodGet
	}
	hdr := http.Header{}
	for k, v := range l.Headers {
		hdr.Set(k, v)
	}
	timeout := l.Timeout.D()
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	mt := loadtest.Run(ctx, loadtest.Options{
		Targets: vegeta.NewStaticTargeter(vegeta.Target{Method: method, URL: l.URL, Header: hdr}),
		Pacer:   rate, Duration: l.Duration.D(), Timeout: timeout, Name: m.Name,
	})
	if ctx.Err() != nil {
		return analysis.Measurement{}, nil, ctx.Err()
	}
	return analysis.Measurement{At: time.Now(), Phase: analysis.Running}, map[string]float64{
		"rps":       mt.Throughput,
		"p50":       mt.Latencies.P50.Seconds(),
		"p99":       mt.Latencies.P99.Seconds(),
		"errorRate": loadtest.ErrorRatio(mt),
		"requests":  float64(mt.Requests),
	}, nil
}
