package upstream

import (
	"math"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// Endpoint is one upstream address. Its state lives in the Pool, keyed by
// address, so that a config reload keeps the health of endpoints that stay.
type Endpoint struct {
	Addr string // as written in the config: http://host:port
	URL  *url.URL

	// active is the verdict of active health checks: checkUp when none run.
	active atomic.Int32
	// ejectedUntil is the UnixNano time until which passive ejection holds.
	ejectedUntil atomic.Int64
	// The runs of failures passive ejection counts, as Envoy's outlier
	// detection does.
	consec5xx, consecGateway, consecLocal atomic.Int32
	// readySince is the UnixNano time the endpoint joined or last became
	// available; slow start ramps from it.
	readySince atomic.Int64
}

// Active-check verdicts. An endpoint with an active check starts unknown
// and takes traffic only once a check passed (an ALB's "initial" state,
// Envoy's ignore_new_hosts_until_first_hc).
const (
	checkUp int32 = iota
	checkUnknown
	checkDown
)

func newEndpoint(addr string, now time.Time) *Endpoint {
	u, _ := url.Parse(addr) // validated by spec
	e := &Endpoint{Addr: addr, URL: u}
	e.readySince.Store(now.UnixNano())
	return e
}

// Available reports whether the endpoint may take requests at now.
func (e *Endpoint) Available(now int64) bool {
	return e.active.Load() == checkUp && now >= e.ejectedUntil.Load()
}

// Untested reports whether the endpoint waits for its first active check
// and is not ejected: a last resort when nothing else can serve.
func (e *Endpoint) Untested(now int64) bool {
	return e.active.Load() == checkUnknown && now >= e.ejectedUntil.Load()
}

// ActiveCheck reports whether the last active check passed (true when none
// runs).
func (e *Endpoint) ActiveCheck() bool { return e.active.Load() == checkUp }

// Ejected reports whether passive ejection holds at now.
func (e *Endpoint) Ejected(now int64) bool { return now < e.ejectedUntil.Load() }

// ActiveState is the active-check verdict as status shows it.
func (e *Endpoint) ActiveState() string {
	switch e.active.Load() {
	case checkUnknown:
		return "unknown"
	case checkDown:
		return "unhealthy"
	}
	return "healthy"
}

// rampFactor is Envoy's slow-start factor in (0, 1]:
// max(minWeightPercent/100, (t/window)^(1/aggression)).
func rampFactor(ss *spec.SlowStart, readySince, now int64) float64 {
	if ss == nil {
		return 1
	}
	elapsed := float64(now - readySince)
	window := float64(ss.Window.D())
	if elapsed >= window {
		return 1
	}
	if elapsed < 0 {
		elapsed = 0
	}
	f := math.Pow(elapsed/window, 1/ss.Aggression)
	return math.Max(ss.MinWeightPercent/100, f)
}
