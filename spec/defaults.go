package spec

import (
	"fmt"
	"time"
)

// Defaults, in one place. Each names the tool whose default it follows.
const (
	DefaultListenAddress = ":8080"
	DefaultAdminAddress  = "127.0.0.1:9190"
	// 64 KiB of request headers, close to Envoy's 60 KiB.
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxBodyBytes   = 10 << 20
	DefaultReadHeader     = 10 * time.Second
	DefaultReadTimeout    = 60 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
	DefaultDrainDelay     = 5 * time.Second
	DefaultShutdown       = 30 * time.Second

	DefaultHealthPath         = "/"
	DefaultHealthInterval     = 5 * time.Second
	DefaultHealthTimeout      = time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3

	// Passive ejection is on unless disabled, as nginx's max_fails is;
	// Envoy's outlier-detection defaults.
	DefaultConsecutiveFailures = 5
	DefaultEjectionTime        = 30 * time.Second
	DefaultMaxEjectionPercent  = 10

	DefaultSlowStartAggression = 1.0
	// Envoy's slow_start_config.min_weight_percent default.
	DefaultSlowStartMinPercent = 10.0

	DefaultDialTimeout         = 2 * time.Second
	DefaultMaxIdleConnsPerHost = 256

	DefaultCookieMaxAge = 24 * time.Hour

	DefaultAccessLogBuffer = 16384

	// Envoy's circuit-breaker defaults.
	DefaultCircuitLimit = 1024
	DefaultMaxRetries   = 3

	// Every request's tries are bounded, whatever the number of endpoints.
	DefaultMaxTries    = 5
	DefaultTryDuration = 10 * time.Second

	DefaultMirrorMaxBody     = 64 << 10
	DefaultMirrorTimeout     = 5 * time.Second
	DefaultMirrorMaxInFlight = 100
	DefaultMirrorKeep        = 50

	// DefaultGlobalRateLimitTimeout is Envoy's ratelimit filter default.
	DefaultGlobalRateLimitTimeout = 20 * time.Millisecond

	// DefaultRateLimitKeys is about what nginx keeps in a 1 MB zone.
	DefaultRateLimitKeys = 16000
)

// The upstream clients a backend may use.
const (
	ClientFast     = "fast"
	ClientStandard = "standard"
)

// A listener's HTTP/1.1 servers.
const (
	ServerFast     = "fast"
	ServerStandard = "standard"
)

func setDuration(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

func setInt(i *int, v int) {
	if *i == 0 {
		*i = v
	}
}

// SetDefaults fills every unset field of g with its default. It never
// overrides a value that was written.
func SetDefaults(g *Gateway) {
	s := &g.Spec
	if len(s.Listeners) == 0 {
		s.Listeners = []Listener{{Address: DefaultListenAddress}}
	}
	for i := range s.Listeners {
		l := &s.Listeners[i]
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener-%d", i)
		}
		if l.Server == "" {
			l.Server = ServerFast
			if l.TLS != nil {
				l.Server = ServerStandard
			}
		}
	}
	if s.Admin.Address == "" {
		s.Admin.Address = DefaultAdminAddress
	}
	l := &s.Limits
	setInt(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	setDuration(&l.ReadHeaderTimeout, DefaultReadHeader)
	setDuration(&l.ReadTimeout, DefaultReadTimeout)
	setDuration(&l.IdleTimeout, DefaultIdleTimeout)
	// WriteTimeout stays 0: a whole-response deadline would cut
	// Server-Sent Events and long downloads. Routes bound upstream time.
	if al := s.AccessLog; al != nil {
		setInt(&al.BufferLines, DefaultAccessLogBuffer)
		for i := range al.Sinks {
			if sl := al.Sinks[i].Syslog; sl != nil {
				if sl.Tag == "" {
					sl.Tag = "cutover"
				}
				if sl.Facility == nil {
					local0 := 16
					sl.Facility = &local0
				}
			}
		}
	}
	if s.DrainDelay == nil {
		d := Duration(DefaultDrainDelay)
		s.DrainDelay = &d
	}
	setDuration(&s.ShutdownTimeout, DefaultShutdown)

	for i := range s.Backends {
		b := &s.Backends[i]
		if hc := b.HealthCheck; hc != nil {
			if hc.Path == "" {
				hc.Path = DefaultHealthPath
			}
			setDuration(&hc.Interval, DefaultHealthInterval)
			setDuration(&hc.Timeout, DefaultHealthTimeout)
			setInt(&hc.HealthyThreshold, DefaultHealthyThreshold)
			setInt(&hc.UnhealthyThreshold, DefaultUnhealthyThreshold)
		}
		if b.Passive == nil {
			b.Passive = &Passive{}
		}
		setPassiveDefaults(b.Passive)
		if ss := b.SlowStart; ss != nil {
			if ss.Aggression == 0 {
				ss.Aggression = DefaultSlowStartAggression
			}
			if ss.MinWeightPercent == 0 {
				ss.MinWeightPercent = DefaultSlowStartMinPercent
			}
		}
		if b.CircuitBreaker == nil {
			b.CircuitBreaker = &CircuitBreaker{}
		}
		cb := b.CircuitBreaker
		setInt(&cb.MaxConnections, DefaultCircuitLimit)
		setInt(&cb.MaxPendingRequests, DefaultCircuitLimit)
		setInt(&cb.MaxRequests, DefaultCircuitLimit)
		setInt(&cb.MaxRetries, DefaultMaxRetries)
		setDuration(&b.DialTimeout, DefaultDialTimeout)
		setInt(&b.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
		if b.Client == "" {
			b.Client = ClientFast
		}
	}
	for i := range s.Routes {
		r := &s.Routes[i]
		if len(r.Backends) == 1 && r.Backends[0].Weight == nil {
			w := 100
			r.Backends[0].Weight = &w
		}
		if r.Upgrades == nil {
			r.Upgrades = []string{"websocket"}
		}
		if rt := r.Retries; rt != nil {
			setInt(&rt.Attempts, 1)
			if len(rt.RetryOn) == 0 {
				rt.RetryOn = []string{"connect-failure", "refused-stream", "reset"}
			}
		}
		if m := r.Mirror; m != nil {
			if m.Percent == nil {
				pct := 100
				m.Percent = &pct
			}
			if len(m.Methods) == 0 {
				m.Methods = []string{"GET", "HEAD"}
			}
			if m.MaxBodyBytes == 0 {
				m.MaxBodyBytes = DefaultMirrorMaxBody
			}
			setDuration(&m.Timeout, DefaultMirrorTimeout)
			setInt(&m.MaxInFlight, DefaultMirrorMaxInFlight)
			if m.Compare != nil {
				setInt(&m.Compare.Keep, DefaultMirrorKeep)
			}
		}
		for j := range r.RateLimits {
			rl := &r.RateLimits[j]
			setInt(&rl.Status, 429)
			setInt(&rl.MaxKeys, DefaultRateLimitKeys)
			if g := rl.Global; g != nil {
				setDuration(&g.Timeout, DefaultGlobalRateLimitTimeout)
			}
		}
		if st := r.Sticky; st != nil && st.Cookie != nil {
			if st.Cookie.Name == "" {
				st.Cookie.Name = "cutover-" + r.Name
			}
			setDuration(&st.Cookie.MaxAge, DefaultCookieMaxAge)
		}
	}
}

func setPassiveDefaults(ps *Passive) {
	base := DefaultConsecutiveFailures
	if ps.ConsecutiveFailures != nil {
		base = *ps.ConsecutiveFailures
	}
	for _, v := range []**int{&ps.Consecutive5xx, &ps.ConsecutiveGatewayFailure, &ps.ConsecutiveLocalOriginFailure} {
		if *v == nil {
			n := base
			*v = &n
		}
	}
	if ps.MaxEjectionPercent == nil {
		n := DefaultMaxEjectionPercent
		ps.MaxEjectionPercent = &n
	}
	setDuration(&ps.EjectionTime, DefaultEjectionTime)
}
