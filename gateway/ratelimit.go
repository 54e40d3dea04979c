package gateway

import (
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/ratelimit"
	"github.com/cutover-dev/cutover/spec"
)

// HeaderRateLimited marks an answer refused by a rate limit.
const HeaderRateLimited = "X-Cutover-Ratelimited"

// routeLimiter is one compiled rate limit of a route.
type routeLimiter struct {
	name string
	// key is the request's key, or false when the limit does not apply;
	// ip gives the client's address.
	key     func(r inbound, ip func() string) (string, bool)
	limiter *ratelimit.Limiter
	status  int
	dryRun  bool
	results [4]prometheus.Counter // by limitResult
}

type limitResult int

const (
	resultAllowed limitResult = iota
	resultDelayed
	resultLimited
	resultDryRun
)

var limitResultNames = [...]string{"allowed", "delayed", "limited", "dry_run"}

// limiterFor returns the limiter of a route's rate limit, keeping its state
// across reloads while the settings stay. Called with p.mu held.
func (p *Pool) limiterFor(route string, rl *spec.RateLimit) *ratelimit.Limiter {
	key := fmt.Sprintf("%s/%s/%+v/%+v/%+v/%d", route, rl.Name, rl.Key, rl.TokenBucket, rl.LeakyBucket, rl.MaxKeys)
	if l, ok := p.limiters[key]; ok {
		p.limitersUsed[key] = true
		return l
	}
	var l *ratelimit.Limiter
	if tb := rl.TokenBucket; tb != nil {
		l = ratelimit.NewTokenBucket(ratelimit.TokenBucket{MaxTokens: tb.MaxTokens, TokensPerFill: tb.TokensPerFill, FillInterval: tb.FillInterval.D()}, rl.MaxKeys)
	} else {
		lb := rl.LeakyBucket
		delay := lb.Delay
		if lb.NoDelay {
			delay = lb.Burst
		}
		l = ratelimit.NewLeakyBucket(ratelimit.LeakyBucket{Rate: lb.RatePerSecond(), Burst: lb.Burst, Delay: delay}, rl.MaxKeys)
	}
	p.limiters[key] = l
	p.limitersUsed[key] = true
	return l
}

func compileRateLimit(route string, rl *spec.RateLimit, l *ratelimit.Limiter, m *Metrics) *routeLimiter {
	rlim := &routeLimiter{name: rl.Name, limiter: l, status: rl.Status, dryRun: rl.DryRun}
	for i, name := range limitResultNames {
		rlim.results[i] = m.ratelimits.WithLabelValues(route, rl.Name, name)
	}
	switch k := rl.Key; {
	case k.Route:
		rlim.key = func(inbound, func() string) (string, bool) { return "", true }
	case k.ClientIP:
		rlim.key = func(_ inbound, ip func() string) (string, bool) { return ip(), true }
	case k.Header != "":
		name := http.CanonicalHeaderKey(k.Header)
		rlim.key = func(r inbound, _ func() string) (string, bool) {
			v := r.Header(name)
			return v, v != ""
		}
	default:
		re := regexp.MustCompile(k.PathRegex)
		rlim.key = func(r inbound, _ func() string) (string, bool) {
			m := re.FindStringSubmatch(r.Path())
			if m == nil {
				return "", false
			}
			return m[1], true
		}
	}
	return rlim
}

// applyLimits runs a route's limiters in order. It returns false when the
// request was refused (and answered), after waiting out any delay, and the
// result for the access log.
func (rt *route) applyLimits(w http.ResponseWriter, r *http.Request, x *exchange, start time.Time) (bool, string) {
	refused, gone, result := rt.takeLocal(httpIn{r}, x, r.Context().Done())
	if refused != nil {
		w.Header().Set(HeaderRateLimited, "local")
		rt.localMetrics.observe(refused.status, start, true)
		x.reply(w, refused.status, ReasonRateLimited)
		return false, result
	}
	if gone {
		return false, result
	}
	ip := func() string { return x.clientIP(httpIn{r}, rt.trusted) }
	for _, g := range rt.globals {
		d := g.Check(r, ip())
		if d.Result != "" {
			result = d.Result
		}
		if d.Status == 0 {
			continue
		}
		if d.Status == http.StatusTooManyRequests {
			for _, h := range d.Headers {
				w.Header().Add(h[0], h[1])
			}
			w.Header().Set(HeaderRateLimited, "global")
			x.reply(w, d.Status, ReasonRateLimited)
		} else {
			x.reply(w, d.Status, ReasonRateLimitServiceFailed)
		}
		rt.localMetrics.observe(d.Status, start, true)
		return false, result
	}
	return true, result
}

// takeLocal runs a route's local limiters in order, waiting out any delay
// unless done closes first (gone). refused is the limiter that refused the
// request, if one did; result is for the access log.
func (rt *route) takeLocal(r inbound, x *exchange, done <-chan struct{}) (refused *routeLimiter, gone bool, result string) {
	ip := func() string { return x.clientIP(r, rt.trusted) }
	for _, lim := range rt.limits {
		key, ok := lim.key(r, ip)
		if !ok {
			continue
		}
		d := lim.limiter.Take(key)
		switch {
		case !d.Allowed && lim.dryRun, d.Wait > 0 && lim.dryRun:
			lim.results[resultDryRun].Inc()
			result = lim.name + ":dry_run"
		case !d.Allowed:
			lim.results[resultLimited].Inc()
			return lim, false, lim.name + ":limited"
		case d.Wait > 0:
			lim.results[resultDelayed].Inc()
			result = lim.name + ":delayed"
			t := time.NewTimer(d.Wait)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return nil, true, result // the client gave up while queued
			}
		default:
			lim.results[resultAllowed].Inc()
			if result == "" {
				result = "allowed"
			}
		}
	}
	return nil, false, result
}
