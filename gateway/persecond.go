package gateway

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/admin/wire"
)

// SeriesSeconds is how far back the per-second series of each route and
// backend reach: 15 minutes at one-second resolution.
const SeriesSeconds = 900

// latencyBuckets are the per-second latency histogram's buckets: bucket
// i > 0 holds [minLatency·√2^(i-1), minLatency·√2^i), the last everything
// above, bucket 0 everything below minLatency.
const (
	latencyBuckets = 32
	minLatency     = 250 * time.Microsecond
)

// secondRing holds the last SeriesSeconds seconds of one route and
// backend's answers: requests, 5xx and a latency histogram per second.
// Writers never wait and never lose a count: every counter carries the
// second it counts in its upper 32 bits, so the first write of a new
// second starts it again at one (a compare-and-swap), and a reader takes
// only counters of the second it asks for.
//
// Its size is fixed: SeriesSeconds × (2 + latencyBuckets) × 8 bytes =
// 244,800 bytes per route and backend.
type secondRing struct {
	slots [SeriesSeconds]secondSlot
}

type secondSlot struct {
	requests, errors atomic.Uint64
	latency          [latencyBuckets]atomic.Uint64
}

// add counts one answer at now, which took d.
func (r *secondRing) add(now time.Time, code int, d time.Duration) {
	sec := now.Unix()
	s := &r.slots[sec%SeriesSeconds]
	epoch := uint64(uint32(sec)) << 32
	bump(&s.requests, epoch)
	if code >= 500 {
		bump(&s.errors, epoch)
	}
	bump(&s.latency[latencyBucket(d)], epoch)
}

func bump(c *atomic.Uint64, epoch uint64) {
	for {
		v := c.Load()
		next := epoch | 1
		if v&^0xffffffff == epoch {
			next = v + 1
		}
		if c.CompareAndSwap(v, next) {
			return
		}
	}
}

// count is c's count for the second of epoch, 0 when c holds another's.
func count(c *atomic.Uint64, epoch uint64) uint64 {
	v := c.Load()
	if v&^0xffffffff != epoch {
		return 0
	}
	return v & 0xffffffff
}

// bucketBounds[i] is bucket i's upper bound in nanoseconds.
var bucketBounds = func() (b [latencyBuckets]float64) {
	for i := range b {
		b[i] = float64(minLatency) * math.Pow(math.Sqrt2, float64(i))
	}
	b[latencyBuckets-1] = math.Inf(1)
	return b
}()

func latencyBucket(d time.Duration) int {
	ns := float64(d)
	lo, hi := 0, latencyBuckets-1 // the first bound above ns is in [lo, hi]
	for lo < hi {
		mid := (lo + hi) / 2
		if ns < bucketBounds[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// bucketBound is the upper bound of latency bucket i, in seconds; the
// last bucket's is its lower bound's √2 times, not infinity, for charts.
func bucketBound(i int) float64 {
	return minLatency.Seconds() * math.Pow(math.Sqrt2, float64(i))
}

// SecondStats and BackendSeries are the wire's.
type (
	SecondStats   = wire.SecondStats
	BackendSeries = wire.BackendSeries
)

// read returns the seconds from `from` to `to`, both Unix seconds and
// inclusive, clipped to what the ring holds.
func (r *secondRing) read(from, to int64, out *SecondStats) {
	from = max(from, to-SeriesSeconds+1)
	for sec := from; sec <= to; sec++ {
		s := &r.slots[sec%SeriesSeconds]
		epoch := uint64(uint32(sec)) << 32
		var hist [latencyBuckets]uint64
		var timed uint64
		for i := range hist {
			hist[i] = count(&s.latency[i], epoch)
			timed += hist[i]
		}
		out.Time = append(out.Time, sec)
		out.Requests = append(out.Requests, int(count(&s.requests, epoch)))
		out.Errors = append(out.Errors, int(count(&s.errors, epoch)))
		out.P50 = append(out.P50, quantile(hist[:], timed, 0.50))
		out.P99 = append(out.P99, quantile(hist[:], timed, 0.99))
	}
}

func quantile(hist []uint64, total uint64, q float64) *float64 {
	if total == 0 {
		return nil
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			v := bucketBound(i)
			return &v
		}
	}
	return nil
}

// Series returns the per-second answers of each backend of route, for the
// seconds from `from` to `to` (Unix seconds, inclusive), as far back as
// SeriesSeconds. The backends are the current config's: one a reload
// added starts empty, one it removed is gone, the others keep their past.
func (g *Gateway) Series(route string, from, to int64) ([]BackendSeries, error) {
	rt := g.table.Load().routeByName(route)
	if rt == nil {
		return nil, &InputError{Field: "route", Msg: "unknown route " + strconv.Quote(route)}
	}
	out := make([]BackendSeries, len(rt.backends))
	for i, b := range rt.backends {
		out[i] = BackendSeries{Backend: b.Name, Version: b.Version}
		rt.metrics[i].perSecond.read(from, to, &out[i].Seconds)
	}
	return out, nil
}
