package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/cutover-dev/cutover/internal/loop"
	"github.com/cutover-dev/cutover/spec"
)

// checker runs one endpoint's active health checks.
type checker struct {
	key    string // the settings it runs with, to notice a change
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *checker) stop() {
	c.cancel()
	<-c.done
}

func (p *Pool) startChecker(ctx context.Context, e *Endpoint, hc spec.HealthCheck) *checker {
	ctx, cancel := context.WithCancel(ctx)
	c := &checker{key: checkKey(&hc), cancel: cancel, done: make(chan struct{})}
	go p.runHealthChecks(ctx, c, e, hc)
	return c
}

func (p *Pool) runHealthChecks(ctx context.Context, c *checker, e *Endpoint, hc spec.HealthCheck) {
	defer close(c.done)
	client := &http.Client{
		Timeout:   hc.Timeout.D(),
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	url := e.URL.JoinPath(hc.Path).String()
	successes, failures := 0, 0
	check := func() { p.checkOnce(ctx, e, client, url, hc, &successes, &failures) }
	onPanic := p.metrics.Panicked("health-check")
	loop.Guard(onPanic, check) // the first check runs at once
	loop.Every(ctx, hc.Interval.D(), onPanic, check)
}

// checkOnce is one active check and its verdict.
func (p *Pool) checkOnce(ctx context.Context, e *Endpoint, client *http.Client, url string, hc spec.HealthCheck, successes, failures *int) {
	err := probe(ctx, client, url, hc.ExpectedStatus)
	if ctx.Err() != nil {
		return
	}
	// The first answer of an endpoint not yet checked decides at once, as
	// in Envoy, so a new endpoint is neither served blind nor kept out for
	// several intervals.
	first := e.active.Load() == checkUnknown
	if err == nil {
		*successes, *failures = *successes+1, 0
		if first || *successes >= hc.HealthyThreshold {
			p.setActive(e, checkUp, "active check passed")
		}
	} else {
		*successes, *failures = 0, *failures+1
		if first || *failures >= hc.UnhealthyThreshold {
			p.setActive(e, checkDown, err.Error())
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string, expected []int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "cutover-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	if len(expected) > 0 {
		ok = slices.Contains(expected, resp.StatusCode)
	}
	if !ok {
		return fmt.Errorf("health check answered %d", resp.StatusCode)
	}
	return nil
}

func checkKey(hc *spec.HealthCheck) string { return fmt.Sprintf("%+v", *hc) }
