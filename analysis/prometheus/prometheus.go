package prometheus

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/stats"
	"github.com/cutover-dev/cutover/spec"
)

// Provider queries the Prometheus named in each metric.
type Provider struct{}

// Measure implements analysis.Provider. Besides {{args.NAME}}, a query may
// use {{elapsed}}, the time since the comparison began as a PromQL range
// such as "95s", to count since then with increase(...[{{elapsed}}]).
//
// Without a judge, result is the query's values, in label order: a scalar
// or a one-series vector gives result[0]. With a judge, the query returns
// per-side error counts and the metric's RequestsQuery per-side request
// counts, both labelled by SideLabel with the backend names.
func (Provider) Measure(ctx context.Context, m *spec.Metric, since time.Time, s analysis.Sides) (analysis.Measurement, any, error) {
	p := m.Provider.Prometheus
	client, err := api.NewClient(api.Config{Address: p.Address, RoundTripper: transport(p)})
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.D())
	defer cancel()
	v1 := promv1.NewAPI(client)
	elapsed := fmt.Sprintf("%ds", max(1, int(time.Since(since).Seconds())))
	query := func(q string) (model.Value, error) {
		q = strings.ReplaceAll(q, "{{elapsed}}", elapsed)
		var val model.Value
		var err error
		if rq := p.RangeQuery; rq != nil {
			var r promv1.Range
			if r.Start, err = spec.EvalTime(rq.Start); err != nil {
				return nil, fmt.Errorf("rangeQuery.start: %w", err)
			}
			if r.End, err = spec.EvalTime(rq.End); err != nil {
				return nil, fmt.Errorf("rangeQuery.end: %w", err)
			}
			if r.Step, err = time.ParseDuration(rq.Step); err != nil {
				return nil, fmt.Errorf("rangeQuery.step: %w", err)
			}
			val, _, _, err = v1.QueryRange(ctx, q, r)
		} else {
			val, _, _, err = v1.Query(ctx, q, time.Now())
		}
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", q, err)
		}
		return val, nil
	}
	val, err := query(p.Query)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	if p.Judge == nil {
		return analysis.Measurement{Phase: analysis.Running}, values(val), nil
	}
	reqVal, err := query(p.RequestsQuery)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	errs, reqs := bySide(val, p.SideLabel), bySide(reqVal, p.SideLabel)
	stable := stats.Counts{Requests: int64(reqs[s.Stable]), Errors: int64(errs[s.Stable])}
	canary := stats.Counts{Requests: int64(reqs[s.Canary]), Errors: int64(errs[s.Canary])}
	return analysis.Judge(p.Judge, max(m.Count, analysis.MaxJudgeLooks), stable, canary, nil), nil, nil
}

// transport adds the metric's headers and, when asked, skips verifying
// Prometheus's certificate.
func transport(p *spec.PrometheusProvider) http.RoundTripper {
	base := api.DefaultRoundTripper.(*http.Transport).Clone()
	if p.Insecure {
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if len(p.Headers) == 0 {
		return base
	}
	return headerTransport{base: base, headers: p.Headers}
}

type headerTransport struct {
	base    http.RoundTripper
	headers []spec.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for _, h := range t.headers {
		r.Header.Set(h.Key, h.Value)
	}
	return t.base.RoundTrip(r)
}

func values(v model.Value) []float64 {
	switch v := v.(type) {
	case model.Matrix:
		// Every sample of every series, as Argo's provider gives them.
		var out []float64
		for _, series := range v {
			for _, s := range series.Values {
				out = append(out, float64(s.Value))
			}
		}
		return out
	case *model.Scalar:
		return []float64{float64(v.Value)}
	case model.Vector:
		sort.Slice(v, func(i, j int) bool { return v[i].Metric.String() < v[j].Metric.String() })
		out := make([]float64, len(v))
		for i, s := range v {
			out[i] = float64(s.Value)
		}
		return out
	}
	return nil
}

func bySide(v model.Value, label string) map[string]float64 {
	out := map[string]float64{}
	if vec, ok := v.(model.Vector); ok {
		for _, s := range vec {
			if f := float64(s.Value); !math.IsNaN(f) {
				out[string(s.Metric[model.LabelName(label)])] += math.Round(f)
			}
		}
	}
	return out
}

var _ analysis.Provider = Provider{}
