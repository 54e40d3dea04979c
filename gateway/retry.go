package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// retryPolicy is a compiled spec.Retries.
type retryPolicy struct {
	attempts                    int
	perTry                      time.Duration
	refusedStream, reset, timed bool
	statuses                    []int
	// maxTries and tryDuration bound every request's tries, connections
	// never made included, by count and by time (Caddy's try_duration).
	maxTries    int
	tryDuration time.Duration
}

// defaultRetries is a route's policy when it sets none: one retry of an
// idempotent request without a body whose connection failed before an
// answer, as nginx's proxy_next_upstream error timeout.
var defaultRetries = spec.Retries{Attempts: 1, RetryOn: []string{"connect-failure", "refused-stream", "reset"}}

func compileRetries(r *spec.Retries) *retryPolicy {
	if r == nil {
		r = &defaultRetries
	}
	p := &retryPolicy{attempts: r.Attempts, perTry: r.PerTryTimeout.D(), maxTries: r.MaxTries, tryDuration: r.TryDuration.D()}
	if p.maxTries <= 0 {
		p.maxTries = spec.DefaultMaxTries
	}
	if p.tryDuration <= 0 {
		p.tryDuration = spec.DefaultTryDuration
	}
	for _, on := range r.RetryOn {
		switch on {
		case "refused-stream":
			p.refusedStream = true
		case "reset":
			p.reset = true
		case "502", "503", "504":
			p.statuses = append(p.statuses, map[string]int{"502": 502, "503": 503, "504": 504}[on])
			p.timed = p.timed || on == "504"
		}
	}
	return p
}

// retriesError says whether an attempt that failed with err may be tried
// again elsewhere. A connection never made is always retried.
func (p *retryPolicy) retriesError(err error, idempotent bool, retries int) bool {
	if isDialError(err) {
		return true
	}
	if retries >= p.attempts {
		return false
	}
	var pt perTryTimeout
	switch {
	case strings.Contains(err.Error(), "REFUSED_STREAM"):
		return p.refusedStream // the upstream refused it unprocessed
	case errors.As(err, &pt):
		return p.timed && idempotent
	default:
		return p.reset && idempotent
	}
}

func (p *retryPolicy) retriesStatus(code int, idempotent bool, retries int) bool {
	return idempotent && retries < p.attempts && slices.Contains(p.statuses, code)
}

// perTryTimeout is a try that got no response headers in time.
type perTryTimeout struct{}

func (perTryTimeout) Error() string   { return "upstream per-try timeout" }
func (perTryTimeout) Timeout() bool   { return true }
func (perTryTimeout) Temporary() bool { return true }

// attempt is one try, bounded by the per-try timeout until its headers.
func attempt(rt http.RoundTripper, req *http.Request, perTry time.Duration) (*http.Response, error) {
	if perTry <= 0 {
		return rt.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	timer := time.AfterFunc(perTry, cancel)
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, perTryTimeout{}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose keeps a try's context alive while its body streams.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// isDialError reports whether err is a connection that was never made.
func isDialError(err error) bool {
	var oe *net.OpError
	return err != nil && errors.As(err, &oe) && oe.Op == "dial"
}
