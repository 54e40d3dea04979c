package upstream

import (
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// Outcome is what one try told about an endpoint, for passive ejection.
type Outcome uint8

const (
	// OutcomeOK is an answer below 500 whose body arrived whole.
	OutcomeOK Outcome = iota
	// Outcome5xx is a 500, 501 or 505 and above from the upstream.
	Outcome5xx
	// OutcomeGateway5xx is a 502, 503 or 504 from the upstream.
	OutcomeGateway5xx
	// OutcomeLocal is a failure the gateway saw itself: no connection, a
	// reset before or during the answer, a timeout.
	OutcomeLocal
)

func StatusOutcome(code int) Outcome {
	switch {
	case code == 502 || code == 503 || code == 504:
		return OutcomeGateway5xx
	case code >= 500:
		return Outcome5xx
	}
	return OutcomeOK
}

// outlierPolicy is a compiled spec.Passive.
type outlierPolicy struct {
	consec5xx, consecGateway, consecLocal int32 // 0: off
	split                                 bool
	maxEjectionPercent                    int
	ejectionTime                          time.Duration
}

func compileOutlier(p *spec.Passive) outlierPolicy {
	return outlierPolicy{
		consec5xx:          int32(*p.Consecutive5xx),
		consecGateway:      int32(*p.ConsecutiveGatewayFailure),
		consecLocal:        int32(*p.ConsecutiveLocalOriginFailure),
		split:              p.SplitExternalLocalOriginErrors,
		maxEjectionPercent: *p.MaxEjectionPercent,
		ejectionTime:       p.EjectionTime.D(),
	}
}

// count adds one to a run and reports whether it reached limit.
func count(run *atomic.Int32, limit int32) bool {
	return limit > 0 && run.Add(1) >= limit
}

func reset(run *atomic.Int32) {
	if run.Load() != 0 {
		run.Store(0)
	}
}

// observe feeds passive ejection with the Outcome of one try on e.
func (p *Pool) Observe(b *Backend, e *Endpoint, o Outcome) {
	op := &b.outlier
	var reached string
	switch o {
	case OutcomeOK:
		reset(&e.consec5xx)
		reset(&e.consecGateway)
		reset(&e.consecLocal)
		return
	case Outcome5xx:
		reset(&e.consecGateway)
		reset(&e.consecLocal)
		if count(&e.consec5xx, op.consec5xx) {
			reached = "consecutive5xx"
		}
	case OutcomeGateway5xx:
		reset(&e.consecLocal)
		if count(&e.consec5xx, op.consec5xx) {
			reached = "consecutive5xx"
		}
		if count(&e.consecGateway, op.consecGateway) {
			reached = "consecutiveGatewayFailure"
		}
	case OutcomeLocal:
		if count(&e.consecLocal, op.consecLocal) {
			reached = "consecutiveLocalOriginFailure"
		}
		if !op.split {
			if count(&e.consec5xx, op.consec5xx) {
				reached = "consecutive5xx"
			}
			if count(&e.consecGateway, op.consecGateway) {
				reached = "consecutiveGatewayFailure"
			}
		}
	}
	if reached != "" {
		p.eject(b, e, reached)
	}
}

// eject takes e out of rotation for the ejection time, unless that would
// eject more of b than maxEjectionPercent allows. One endpoint may always
// be ejected, so a backend of one can still be taken out.
func (p *Pool) eject(b *Backend, e *Endpoint, why string) {
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	now := time.Now()
	op := &b.outlier
	ejected := 0
	for _, o := range b.Endpoints {
		if o.Ejected(now.UnixNano()) {
			ejected++
		}
	}
	if ejected > 0 && ejected*100 >= op.maxEjectionPercent*len(b.Endpoints) {
		p.log.Warn("endpoint not ejected: maxEjectionPercent reached", "endpoint", e.Addr, "backend", b.Name, "ejected", ejected, "maxEjectionPercent", op.maxEjectionPercent)
		p.metrics.Ejections.WithLabelValues(b.Name, "refused_max_ejection_percent").Inc()
		return
	}
	until := now.Add(op.ejectionTime).UnixNano()
	prev := e.ejectedUntil.Load()
	if prev > now.UnixNano() || !e.ejectedUntil.CompareAndSwap(prev, until) {
		return // already ejected, or another request ejected it first
	}
	e.consec5xx.Store(0)
	e.consecGateway.Store(0)
	e.consecLocal.Store(0)
	p.log.Warn("endpoint ejected", "endpoint", e.Addr, "backend", b.Name, "reason", why, "for", op.ejectionTime)
	p.metrics.Ejections.WithLabelValues(b.Name, why).Inc()
	p.onHealthChange()
	time.AfterFunc(op.ejectionTime, func() {
		if e.ejectedUntil.Load() == until {
			e.readySince.Store(time.Now().UnixNano())
			p.log.Info("endpoint ejection ended", "endpoint", e.Addr)
			p.onHealthChange()
		}
	})
}
