package global

import (
	"context"
	"net/http"
	"net/url"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cutover-dev/cutover/gateway/routing"
	"github.com/cutover-dev/cutover/spec"
)

// Limiter asks a RateLimitService about each request.
type Limiter struct {
	client      rlsv3.RateLimitServiceClient
	domain      string
	descriptors [][]action
	failDeny    bool
	timeout     time.Duration
	ok, over    prometheus.Counter
	failed      prometheus.Counter
	// The access log's ratelimit field for each outcome, built once.
	okResult, overResult, failedResult string
}

// action produces one descriptor entry, or false when it cannot, which
// leaves the whole descriptor out, as in Envoy.
type action func(r *http.Request, clientIP string, query *url.Values) (key, value string, ok bool)

// Clients are the gRPC clients of rate-limit services, by address, kept
// across reloads so that their connections are too. Not safe for
// concurrent use: the gateway compiles one table at a time.
type Clients map[string]rlsv3.RateLimitServiceClient

// For returns the client of the service at addr.
func (cs Clients) For(addr string) rlsv3.RateLimitServiceClient {
	if c, ok := cs[addr]; ok {
		return c
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		// NewClient fails only on a malformed target; the config validated it.
		panic(err)
	}
	c := rlsv3.NewRateLimitServiceClient(conn)
	cs[addr] = c
	return c
}

// New compiles a route's global limit; results counts its decisions by
// route, limit name and result.
func New(route string, rl *spec.RateLimit, client rlsv3.RateLimitServiceClient, results *prometheus.CounterVec) *Limiter {
	g := rl.Global
	gl := &Limiter{
		client: client, domain: g.Domain, failDeny: g.FailureModeDeny, timeout: g.Timeout.D(),
		ok:     results.WithLabelValues(route, rl.Name, "global_ok"),
		over:   results.WithLabelValues(route, rl.Name, "global_over_limit"),
		failed: results.WithLabelValues(route, rl.Name, "global_failure"),

		okResult: rl.Name + ":global_ok", overResult: rl.Name + ":global_over_limit", failedResult: rl.Name + ":global_failure",
	}
	for _, d := range g.Descriptors {
		var actions []action
		for _, a := range d.Actions {
			actions = append(actions, compileAction(a))
		}
		gl.descriptors = append(gl.descriptors, actions)
	}
	return gl
}

// pseudoHeader reads Envoy's pseudo-headers and ordinary headers alike.
func pseudoHeader(r *http.Request, name string) (string, bool) {
	switch name {
	case ":path":
		return r.URL.RequestURI(), true
	case ":authority":
		return r.Host, true
	case ":method":
		return r.Method, true
	case ":scheme":
		if r.TLS != nil {
			return "https", true
		}
		return "http", true
	}
	v, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func compileAction(a spec.RateLimitAction) action {
	switch {
	case a.RequestHeaders != nil:
		h := *a.RequestHeaders
		return func(r *http.Request, _ string, _ *url.Values) (string, string, bool) {
			v, ok := pseudoHeader(r, h.HeaderName)
			return h.DescriptorKey, v, ok
		}
	case a.RemoteAddress != nil:
		return func(_ *http.Request, ip string, _ *url.Values) (string, string, bool) {
			return "remote_address", ip, true
		}
	case a.GenericKey != nil:
		key := a.GenericKey.DescriptorKey
		if key == "" {
			key = "generic_key"
		}
		value := a.GenericKey.DescriptorValue
		return func(*http.Request, string, *url.Values) (string, string, bool) { return key, value, true }
	case a.HeaderValueMatch != nil:
		hv := a.HeaderValueMatch
		key := hv.DescriptorKey
		if key == "" {
			key = "header_match"
		}
		expect := hv.ExpectMatch == nil || *hv.ExpectMatch
		var matchers []routing.KeyMatcher
		for _, h := range hv.Headers {
			matchers = append(matchers, routing.KeyMatcher{Name: h.Name, Present: h.Present, Value: routing.CompileString(h.StringMatch)})
		}
		return func(r *http.Request, _ string, _ *url.Values) (string, string, bool) {
			all := true
			for i := range matchers {
				m := &matchers[i]
				v, ok := pseudoHeader(r, m.Name)
				if !ok || !m.Present && !m.Value.Match(v) {
					all = false
					break
				}
			}
			return key, hv.DescriptorValue, all == expect
		}
	default:
		q := *a.QueryParameters
		return func(r *http.Request, _ string, query *url.Values) (string, string, bool) {
			if *query == nil {
				*query = r.URL.Query()
			}
			vals, ok := (*query)[q.QueryParameterName]
			if !ok || len(vals) == 0 {
				return "", "", false
			}
			return q.DescriptorKey, vals[0], true
		}
	}
}

// Decision is the service's answer to one request. Status is 0 when the
// request may go on, else the answer to give: 429 over the limit, 503 when
// the service failed and failureModeDeny is set. Result is the access
// log's ratelimit field; Headers are the service's headers to add.
type Decision struct {
	Status  int
	Result  string
	Headers [][2]string
}

// Check asks the service about r. A request that makes no descriptor is
// not asked about.
func (g *Limiter) Check(r *http.Request, clientIP string) Decision {
	req := &rlsv3.RateLimitRequest{Domain: g.domain}
	var query url.Values
	for _, actions := range g.descriptors {
		d := &rlcommon.RateLimitDescriptor{}
		complete := true
		for _, a := range actions {
			k, v, ok := a(r, clientIP, &query)
			if !ok {
				complete = false
				break
			}
			d.Entries = append(d.Entries, &rlcommon.RateLimitDescriptor_Entry{Key: k, Value: v})
		}
		if complete {
			req.Descriptors = append(req.Descriptors, d)
		}
	}
	if len(req.Descriptors) == 0 {
		return Decision{}
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	resp, err := g.client.ShouldRateLimit(ctx, req)
	switch {
	case err != nil:
		g.failed.Inc()
		if g.failDeny {
			return Decision{Status: http.StatusServiceUnavailable, Result: g.failedResult}
		}
		return Decision{Result: g.failedResult}
	case resp.GetOverallCode() == rlsv3.RateLimitResponse_OVER_LIMIT:
		g.over.Inc()
		d := Decision{Status: http.StatusTooManyRequests, Result: g.overResult}
		for _, h := range resp.GetResponseHeadersToAdd() {
			d.Headers = append(d.Headers, [2]string{h.GetKey(), h.GetValue()})
		}
		return d
	}
	g.ok.Inc()
	return Decision{Result: g.okResult}
}
