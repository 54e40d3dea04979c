package gateway

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
	url  *url.URL

	// activeUp is the verdict of active health checks (true when none run).
	activeUp atomic.Bool
	// ejectedUntil is the UnixNano time until which passive ejection holds.
	ejectedUntil atomic.Int64
	consecFails  atomic.Int32
	// readySince is the UnixNano time the endpoint joined or last became
	// available; slow start ramps from it.
	readySince atomic.Int64
}

func newEndpoint(addr string, now time.Time) *Endpoint {
	u, _ := url.Parse(addr) // validated by spec
	e := &Endpoint{Addr: addr, url: u}
	e.activeUp.Store(true)
	e.readySince.Store(now.UnixNano())
	return e
}

// Available reports whether the endpoint may take requests at now.
func (e *Endpoint) Available(now int64) bool {
	return e.activeUp.Load() && now >= e.ejectedUntil.Load()
}

// Ejected reports whether passive ejection holds at now.
func (e *Endpoint) Ejected(now int64) bool { return now < e.ejectedUntil.Load() }

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
