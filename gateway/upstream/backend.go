package upstream

import (
	"math/bits"
	"math/rand/v2"
	"net/http"
	"sync/atomic"

	"github.com/cutover-dev/cutover/spec"
)

// Backend is a compiled spec.Backend. Its endpoints are shared with the
// Pool.
type Backend struct {
	Name, Version string
	Endpoints     []*Endpoint
	FailOpen      bool
	SlowStart     *spec.SlowStart
	Transport     http.RoundTripper
	Breaker       *Breaker
	outlier       outlierPolicy
	rr            atomic.Uint64
}

// RampPercent is e's slow-start factor at now, in percent.
func (b *Backend) RampPercent(e *Endpoint, now int64) float64 {
	return 100 * rampFactor(b.SlowStart, e.readySince.Load(), now)
}

// Usable reports whether the backend can take a request at now.
func (b *Backend) Usable(now int64) bool {
	if b.FailOpen {
		return true
	}
	for _, e := range b.Endpoints {
		if e.Available(now) {
			return true
		}
	}
	return false
}

// Untested reports whether one of the backend's endpoints waits for its
// first active check: a last resort when no backend of a route is usable.
func (b *Backend) Untested(now int64) bool {
	for _, e := range b.Endpoints {
		if e.Untested(now) {
			return true
		}
	}
	return false
}

// PickEndpoint returns the index of an endpoint not in tried, or -1.
// Available endpoints share requests round robin, or by slow-start weight
// while one of them is ramping up. When none is available, endpoints not
// yet checked are tried, then, with failOpen, every endpoint.
func (b *Backend) PickEndpoint(now int64, tried *IndexSet) int {
	n := len(b.Endpoints)
	count, total, ramping := 0, 0.0, false
	for i, e := range b.Endpoints {
		if tried.Has(i) || !e.Available(now) {
			continue
		}
		count++
		f := rampFactor(b.SlowStart, e.readySince.Load(), now)
		if f < 1 {
			ramping = true
		}
		total += f
	}
	if count == 0 {
		start := int(b.rr.Add(1) % uint64(n))
		for k := range n {
			if i := (start + k) % n; !tried.Has(i) && b.Endpoints[i].Untested(now) {
				return i
			}
		}
		if !b.FailOpen {
			return -1
		}
		// Fail open: try every endpoint, as an ALB does with an all-unhealthy target group.
		for k := range n {
			if i := (start + k) % n; !tried.Has(i) {
				return i
			}
		}
		return -1
	}
	if !ramping {
		start := int(b.rr.Add(1) % uint64(n))
		for k := range n {
			i := (start + k) % n
			if !tried.Has(i) && b.Endpoints[i].Available(now) {
				return i
			}
		}
		return -1
	}
	x := rand.Float64() * total
	last := -1
	for i, e := range b.Endpoints {
		if tried.Has(i) || !e.Available(now) {
			continue
		}
		last = i
		if x -= rampFactor(b.SlowStart, e.readySince.Load(), now); x < 0 {
			return i
		}
	}
	return last
}

// IndexSet is a set of endpoint or backend indices, such as those one
// request tried. The first 64 need no allocation; a backend behind an ALB
// or in Kubernetes may have hundreds of endpoints.
type IndexSet struct {
	low  uint64
	high []uint64
}

func (s *IndexSet) Has(i int) bool {
	if i < 64 {
		return s.low&(1<<i) != 0
	}
	w := i/64 - 1
	return w < len(s.high) && s.high[w]&(1<<(i%64)) != 0
}

func (s *IndexSet) Add(i int) {
	if i < 64 {
		s.low |= 1 << i
		return
	}
	w := i/64 - 1
	for len(s.high) <= w {
		s.high = append(s.high, 0)
	}
	s.high[w] |= 1 << (i % 64)
}

// len is the number of indices in the set.
func (s *IndexSet) Len() int {
	n := bits.OnesCount64(s.low)
	for _, w := range s.high {
		n += bits.OnesCount64(w)
	}
	return n
}

func (s *IndexSet) Reset() {
	s.low = 0
	for i := range s.high {
		s.high[i] = 0
	}
}
