package upstream

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/spec"
)

// breaker is a backend's circuit breaker, Envoy's way: every request in
// flight holds a connection, so those beyond maxConnections are pending.
type Breaker struct {
	maxRequests, maxActive, maxRetries int64
	active, retrying                   atomic.Int64
	overflow                           [3]prometheus.Counter // requests, pending, retries
}

func newBreaker(backend string, cb *spec.CircuitBreaker, overflow *prometheus.CounterVec) *Breaker {
	b := &Breaker{
		maxRequests: int64(cb.MaxRequests),
		maxActive:   int64(cb.MaxConnections + cb.MaxPendingRequests),
		maxRetries:  int64(cb.MaxRetries),
	}
	for i, limit := range []string{"max_requests", "max_pending_requests", "max_retries"} {
		b.overflow[i] = overflow.WithLabelValues(backend, limit)
	}
	return b
}

// Admit takes a place for a request, or reports the overflow.
func (b *Breaker) Admit() bool {
	n := b.active.Add(1)
	switch {
	case n > b.maxRequests:
		b.overflow[0].Inc()
	case n > b.maxActive:
		b.overflow[1].Inc()
	default:
		return true
	}
	b.active.Add(-1)
	return false
}

func (b *Breaker) Release() { b.active.Add(-1) }

func (b *Breaker) StartRetry() bool {
	if b.retrying.Add(1) > b.maxRetries {
		b.retrying.Add(-1)
		b.overflow[2].Inc()
		return false
	}
	return true
}

func (b *Breaker) EndRetry() { b.retrying.Add(-1) }
