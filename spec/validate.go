package spec

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	namePattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	hostPattern   = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	methodPattern = regexp.MustCompile(`^[A-Z]+$`)
)

// isToken reports whether s is an HTTP token (RFC 9110), as header names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 127 || !strings.ContainsRune("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", c) {
			return false
		}
	}
	return true
}

func validateName(p *problems, path, name string) {
	switch {
	case name == "":
		p.add(path, "required")
	case !namePattern.MatchString(name):
		p.add(path, "%q must be lower-case letters, digits, '-', '_' or '.', starting and ending with a letter or digit", name)
	}
}

func validateAddress(p *problems, path, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		p.add(path, "%q is not host:port: %v", addr, unwrapAddrErr(err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(path, "%q has an invalid port", addr)
	}
}

func unwrapAddrErr(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

func validateGateway(g *Gateway, p *problems) {
	if g.APIVersion != APIVersion {
		p.add("apiVersion", "%q is not supported (want %s)", g.APIVersion, APIVersion)
	}
	validateName(p, "metadata.name", g.Metadata.Name)
	s := &g.Spec

	addrs := map[string]string{}
	names := map[string]bool{}
	if al := s.AccessLog; al != nil {
		if len(al.Sinks) == 0 {
			p.add("spec.accessLog.sinks", "at least one sink is required")
		}
		for i, sk := range al.Sinks {
			sp := fmt.Sprintf("spec.accessLog.sinks[%d]", i)
			n := 0
			if sk.Stdout {
				n++
			}
			if f := sk.File; f != nil {
				n++
				if f.Path == "" {
					p.add(sp+".file.path", "required")
				}
				if f.TimeZone != "" {
					if _, err := time.LoadLocation(f.TimeZone); err != nil {
						p.add(sp+".file.timeZone", "%v", err)
					}
				}
			}
			if sl := sk.Syslog; sl != nil {
				n++
				if sl.Socket == "" {
					p.add(sp+".syslog.socket", "required (a unix datagram socket such as /dev/log)")
				}
				if *sl.Facility < 0 || *sl.Facility > 23 {
					p.add(sp+".syslog.facility", "%d is not a syslog facility (0-23)", *sl.Facility)
				}
			}
			if n != 1 {
				p.add(sp, "set exactly one of stdout, file or syslog")
			}
		}
		if al.BufferLines < 1 {
			p.add("spec.accessLog.bufferLines", "must be at least 1")
		}
		for i, h := range al.Headers {
			if !isToken(h) {
				p.add(fmt.Sprintf("spec.accessLog.headers[%d]", i), "%q is not a valid header name", h)
			}
		}
		for i, c := range al.Cookies {
			if !isToken(c.Name) {
				p.add(fmt.Sprintf("spec.accessLog.cookies[%d].name", i), "%q is not a valid cookie name", c.Name)
			}
		}
	}
	for i, tp := range s.TrustedProxies {
		if _, err := ParsePrefix(tp); err != nil {
			p.add(fmt.Sprintf("spec.trustedProxies[%d]", i), "%q is not an IP address or CIDR", tp)
		}
	}
	for i, l := range s.Listeners {
		path := fmt.Sprintf("spec.listeners[%d]", i)
		if names[l.Name] {
			p.add(path+".name", "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		if l.Address == "" {
			p.add(path+".address", "required")
		} else {
			validateAddress(p, path+".address", l.Address)
			if prev, dup := addrs[l.Address]; dup && !strings.HasSuffix(l.Address, ":0") {
				p.add(path+".address", "%q is already used by listener %q", l.Address, prev)
			}
			addrs[l.Address] = l.Name
		}
		if l.TLS != nil {
			validateFile(p, path+".tls.certFile", l.TLS.CertFile)
			validateFile(p, path+".tls.keyFile", l.TLS.KeyFile)
		}
		switch {
		case l.Server != ServerFast && l.Server != ServerStandard:
			p.add(path+".server", "%q is not a server (fast or standard)", l.Server)
		case l.Server == ServerFast && l.TLS != nil:
			p.add(path+".server", "the fast server serves cleartext listeners; TLS listeners run the standard one")
		}
	}
	validateAddress(p, "spec.admin.address", s.Admin.Address)
	if _, dup := addrs[s.Admin.Address]; dup && !strings.HasSuffix(s.Admin.Address, ":0") {
		p.add("spec.admin.address", "%q is already used by a listener", s.Admin.Address)
	}

	if s.Chat != nil {
		validateChat(p, s.Chat, s.Admin.Address)
	}

	l := s.Limits
	if l.MaxHeaderBytes < 0 {
		p.add("spec.limits.maxHeaderBytes", "must be positive")
	}
	if l.MaxBodyBytes < 0 {
		p.add("spec.limits.maxBodyBytes", "must be positive")
	}
	for path, d := range map[string]Duration{
		"spec.limits.readHeaderTimeout": l.ReadHeaderTimeout, "spec.limits.readTimeout": l.ReadTimeout,
		"spec.limits.writeTimeout": l.WriteTimeout, "spec.limits.idleTimeout": l.IdleTimeout,
		"spec.drainDelay": *s.DrainDelay, "spec.shutdownTimeout": s.ShutdownTimeout,
	} {
		if d < 0 {
			p.add(path, "must not be negative")
		}
	}

	backends := map[string]bool{}
	for i := range s.Backends {
		path := fmt.Sprintf("spec.backends[%d]", i)
		b := &s.Backends[i]
		validateName(p, path+".name", b.Name)
		if backends[b.Name] {
			p.add(path+".name", "duplicate backend name %q", b.Name)
		}
		backends[b.Name] = true
		validateBackend(p, path, b)
	}
	if len(s.Routes) == 0 {
		p.add("spec.routes", "at least one route is required")
	}
	routes := map[string]bool{}
	for i := range s.Routes {
		path := fmt.Sprintf("spec.routes[%d]", i)
		r := &s.Routes[i]
		validateName(p, path+".name", r.Name)
		if routes[r.Name] {
			p.add(path+".name", "duplicate route name %q", r.Name)
		}
		routes[r.Name] = true
		validateRoute(p, path, r, backends)
		for j := range i {
			if catchAllCovers(&s.Routes[j], r) {
				p.add(path, "unreachable: route %q before it has no match and catches all its requests; a catch-all route must be last", s.Routes[j].Name)
				break
			}
		}
	}
}

func validateFile(p *problems, path, file string) {
	if file == "" {
		p.add(path, "required")
		return
	}
	if _, err := os.Stat(file); err != nil {
		p.add(path, "%v", err)
	}
}

func validateBackend(p *problems, path string, b *Backend) {
	if len(b.Endpoints) == 0 {
		p.add(path+".endpoints", "at least one endpoint is required")
	}
	seen := map[string]bool{}
	for i, e := range b.Endpoints {
		ep := fmt.Sprintf("%s.endpoints[%d]", path, i)
		u, err := url.Parse(e)
		switch {
		case !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://"):
			p.add(ep, "%q must start with http:// or https://", e)
		case err != nil:
			p.add(ep, "%q is not a URL: %v", e, err)
		case u.Port() == "" || u.Hostname() == "":
			p.add(ep, "%q must name a host and a port", e)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
			p.add(ep, "%q must be scheme://host:port only", e)
		case seen[e]:
			p.add(ep, "duplicate endpoint %q", e)
		}
		seen[e] = true
	}
	if hc := b.HealthCheck; hc != nil {
		hp := path + ".healthCheck"
		if !strings.HasPrefix(hc.Path, "/") {
			p.add(hp+".path", "%q must start with /", hc.Path)
		}
		if hc.Interval <= 0 {
			p.add(hp+".interval", "must be positive")
		}
		if hc.Timeout <= 0 {
			p.add(hp+".timeout", "must be positive")
		} else if hc.Timeout > hc.Interval {
			p.add(hp+".timeout", "%s must not exceed the interval %s", hc.Timeout.D(), hc.Interval.D())
		}
		if hc.HealthyThreshold < 1 {
			p.add(hp+".healthyThreshold", "must be at least 1")
		}
		if hc.UnhealthyThreshold < 1 {
			p.add(hp+".unhealthyThreshold", "must be at least 1")
		}
		for i, c := range hc.ExpectedStatus {
			if c < 100 || c > 599 {
				p.add(fmt.Sprintf("%s.expectedStatus[%d]", hp, i), "%d is not an HTTP status code", c)
			}
		}
	}
	if b.Client != ClientFast && b.Client != ClientStandard {
		p.add(path+".client", "%q is not a client (fast or standard)", b.Client)
	}
	if ps := b.Passive; ps != nil {
		for _, f := range []struct {
			name string
			v    *int
		}{
			{"consecutiveFailures", ps.ConsecutiveFailures},
			{"consecutive5xx", ps.Consecutive5xx},
			{"consecutiveGatewayFailure", ps.ConsecutiveGatewayFailure},
			{"consecutiveLocalOriginFailure", ps.ConsecutiveLocalOriginFailure},
		} {
			if f.v != nil && *f.v < 0 {
				p.add(path+".passive."+f.name, "must not be negative (0 turns it off)")
			}
		}
		if v := ps.MaxEjectionPercent; v != nil && (*v < 0 || *v > 100) {
			p.add(path+".passive.maxEjectionPercent", "%d must be between 0 and 100", *v)
		}
		if ps.EjectionTime <= 0 {
			p.add(path+".passive.ejectionTime", "must be positive")
		}
	}
	if ss := b.SlowStart; ss != nil {
		if ss.Window <= 0 {
			p.add(path+".slowStart.window", "must be positive")
		}
		if ss.Aggression <= 0 {
			p.add(path+".slowStart.aggression", "must be positive")
		}
		if ss.MinWeightPercent < 0 || ss.MinWeightPercent > 100 {
			p.add(path+".slowStart.minWeightPercent", "must be between 0 and 100")
		}
	}
	if b.DialTimeout < 0 {
		p.add(path+".dialTimeout", "must not be negative")
	}
	if cb := b.CircuitBreaker; cb != nil {
		for field, v := range map[string]int{"maxConnections": cb.MaxConnections, "maxPendingRequests": cb.MaxPendingRequests, "maxRequests": cb.MaxRequests, "maxRetries": cb.MaxRetries} {
			if v < 0 {
				p.add(path+".circuitBreaker."+field, "must not be negative")
			}
		}
	}
	if b.MaxIdleConnsPerHost < 0 {
		p.add(path+".maxIdleConnsPerHost", "must not be negative")
	}
}

func validateRoute(p *problems, path string, r *Route, backends map[string]bool) {
	for i, h := range r.Hosts {
		if !hostPattern.MatchString(h) {
			p.add(fmt.Sprintf("%s.hosts[%d]", path, i), "%q is not a lower-case host name (a leading *. is allowed)", h)
		}
	}
	for i := range r.Match {
		validateMatch(p, fmt.Sprintf("%s.match[%d]", path, i), &r.Match[i])
	}
	if len(r.Backends) == 0 {
		p.add(path+".backends", "at least one backend is required")
	}
	seen := map[string]bool{}
	sum := 0
	weightsOK := true
	for i, rb := range r.Backends {
		bp := fmt.Sprintf("%s.backends[%d]", path, i)
		switch {
		case rb.Name == "":
			p.add(bp+".name", "required")
		case !backends[rb.Name]:
			p.add(bp+".name", "unknown backend %q (the backends are %s)", rb.Name, names(backends))
		case seen[rb.Name]:
			p.add(bp+".name", "backend %q is listed twice", rb.Name)
		}
		seen[rb.Name] = true
		switch {
		case rb.Weight == nil:
			p.add(bp+".weight", "required when a route has several backends")
			weightsOK = false
		case *rb.Weight < 0 || *rb.Weight > 100:
			p.add(bp+".weight", "%d must be between 0 and 100", *rb.Weight)
			weightsOK = false
		default:
			sum += *rb.Weight
		}
	}
	if weightsOK && len(r.Backends) > 0 && sum != 100 {
		p.add(path+".backends", "weights add up to %d, not 100", sum)
	}
	if st := r.Sticky; st != nil {
		n := 0
		if st.Cookie != nil {
			n++
			if !isToken(st.Cookie.Name) {
				p.add(path+".stickiness.cookie.name", "%q is not a valid cookie name", st.Cookie.Name)
			}
			if st.Cookie.MaxAge < 0 {
				p.add(path+".stickiness.cookie.maxAge", "must not be negative")
			}
		}
		if st.Header != "" {
			n++
			if !isToken(st.Header) {
				p.add(path+".stickiness.header", "%q is not a valid header name", st.Header)
			}
		}
		if st.ClientIP {
			n++
		}
		if n != 1 {
			p.add(path+".stickiness", "set exactly one of cookie, header or clientIP")
		}
	}
	if r.Drain && (r.Sticky == nil || r.Sticky.Cookie == nil) {
		p.add(path+".drain", "needs cookie stickiness, which remembers each client's backend")
	}
	if r.Timeout < 0 {
		p.add(path+".timeout", "must not be negative")
	}
	if r.MaxBodyBytes < 0 {
		p.add(path+".maxBodyBytes", "must not be negative")
	}
	for i, u := range r.Upgrades {
		if u == "" || strings.ContainsAny(u, " ,\t") {
			p.add(fmt.Sprintf("%s.upgrades[%d]", path, i), "%q is not a protocol token (websocket, say)", u)
		}
	}
	if rt := r.Retries; rt != nil {
		if rt.MaxTries < 0 {
			p.add(path+".retries.maxTries", "must not be negative")
		}
		if rt.TryDuration < 0 {
			p.add(path+".retries.tryDuration", "must not be negative")
		}
		if rt.Attempts < 1 || rt.Attempts > 10 {
			p.add(path+".retries.attempts", "%d must be between 1 and 10", rt.Attempts)
		}
		if rt.PerTryTimeout < 0 {
			p.add(path+".retries.perTryTimeout", "must not be negative")
		}
		for i, on := range rt.RetryOn {
			if !retryOnValues[on] {
				p.add(fmt.Sprintf("%s.retries.retryOn[%d]", path, i), "%q is not one of connect-failure, refused-stream, reset, 502, 503, 504", on)
			}
		}
	}
	if m := r.Mirror; m != nil {
		mp := path + ".mirror"
		switch {
		case m.Backend == "":
			p.add(mp+".backend", "required")
		case !backends[m.Backend]:
			p.add(mp+".backend", "unknown backend %q (the backends are %s)", m.Backend, names(backends))
		}
		if *m.Percent < 0 || *m.Percent > 100 {
			p.add(mp+".percent", "%d must be between 0 and 100", *m.Percent)
		}
		for i, method := range m.Methods {
			if !methodPattern.MatchString(method) {
				p.add(fmt.Sprintf("%s.methods[%d]", mp, i), "%q must be an upper-case HTTP method such as GET", method)
			}
		}
		if m.MaxBodyBytes < 0 {
			p.add(mp+".maxBodyBytes", "must not be negative")
		}
		if m.Timeout <= 0 {
			p.add(mp+".timeout", "must be positive")
		}
		if m.MaxInFlight < 1 {
			p.add(mp+".maxInFlight", "must be at least 1")
		}
		if c := m.Compare; c != nil {
			if !c.Status && !c.Headers && !c.Body {
				p.add(mp+".compare", "set status, headers or body")
			}
			for i, h := range c.IgnoreHeaders {
				if !isToken(h) {
					p.add(fmt.Sprintf("%s.compare.ignoreHeaders[%d]", mp, i), "%q is not a valid header name", h)
				}
			}
			if c.Keep < 1 {
				p.add(mp+".compare.keep", "must be at least 1")
			}
		}
	}
	names := map[string]bool{}
	for i := range r.RateLimits {
		validateRateLimit(p, fmt.Sprintf("%s.rateLimits[%d]", path, i), &r.RateLimits[i], names)
	}
}

func validateRateLimit(p *problems, path string, rl *RateLimit, names map[string]bool) {
	validateName(p, path+".name", rl.Name)
	if names[rl.Name] {
		p.add(path+".name", "duplicate rate limit name %q", rl.Name)
	}
	names[rl.Name] = true
	if g := rl.Global; g != nil {
		if rl.TokenBucket != nil || rl.LeakyBucket != nil || rl.Key != (RateLimitKey{}) {
			p.add(path, "a global limit takes no key, tokenBucket or leakyBucket: the service decides")
		}
		validateGlobal(p, path+".global", g)
		return
	}
	k := rl.Key
	n := 0
	for _, set := range []bool{k.Route, k.ClientIP, k.Header != "", k.PathRegex != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		p.add(path+".key", "set exactly one of route, clientIP, header or pathRegex")
	}
	if k.Header != "" && !isToken(k.Header) {
		p.add(path+".key.header", "%q is not a valid header name", k.Header)
	}
	if k.PathRegex != "" {
		if re, err := regexp.Compile(k.PathRegex); err != nil {
			p.add(path+".key.pathRegex", "%v", err)
		} else if re.NumSubexp() < 1 {
			p.add(path+".key.pathRegex", "needs a capture group: the key is what it captures")
		}
	}
	if (rl.TokenBucket == nil) == (rl.LeakyBucket == nil) {
		p.add(path, "set exactly one of tokenBucket or leakyBucket")
	}
	if tb := rl.TokenBucket; tb != nil {
		if tb.MaxTokens < 1 {
			p.add(path+".tokenBucket.maxTokens", "must be at least 1")
		}
		if tb.TokensPerFill < 1 {
			p.add(path+".tokenBucket.tokensPerFill", "must be at least 1")
		}
		if tb.FillInterval <= 0 {
			p.add(path+".tokenBucket.fillInterval", "must be positive")
		}
	}
	if lb := rl.LeakyBucket; lb != nil {
		if _, err := parseRate(lb.Rate); err != nil {
			p.add(path+".leakyBucket.rate", "%v", err)
		}
		if lb.Burst < 0 {
			p.add(path+".leakyBucket.burst", "must not be negative")
		}
		if lb.Delay < 0 || lb.Delay > lb.Burst {
			p.add(path+".leakyBucket.delay", "%d must be between 0 and burst (%d)", lb.Delay, lb.Burst)
		}
		if lb.NoDelay && lb.Delay != 0 {
			p.add(path+".leakyBucket.nodelay", "set nodelay or delay, not both")
		}
	}
	if rl.Status < 400 || rl.Status > 599 {
		p.add(path+".status", "%d is not a 4xx or 5xx status", rl.Status)
	}
	if rl.MaxKeys < 1 {
		p.add(path+".maxKeys", "must be at least 1")
	}
}

func validateGlobal(p *problems, path string, g *GlobalRateLimit) {
	if g.Service == "" {
		p.add(path+".service", "required: the rate-limit service's gRPC host:port")
	} else {
		validateAddress(p, path+".service", g.Service)
	}
	if g.Domain == "" {
		p.add(path+".domain", "required")
	}
	if len(g.Descriptors) == 0 {
		p.add(path+".descriptors", "at least one descriptor is required")
	}
	if g.Timeout <= 0 {
		p.add(path+".timeout", "must be positive")
	}
	for i, d := range g.Descriptors {
		dp := fmt.Sprintf("%s.descriptors[%d]", path, i)
		if len(d.Actions) == 0 {
			p.add(dp+".actions", "at least one action is required")
		}
		for j, a := range d.Actions {
			ap := fmt.Sprintf("%s.actions[%d]", dp, j)
			n := 0
			if h := a.RequestHeaders; h != nil {
				n++
				if h.HeaderName == "" || h.DescriptorKey == "" {
					p.add(ap+".requestHeaders", "headerName and descriptorKey are required")
				}
			}
			if a.RemoteAddress != nil {
				n++
			}
			if gk := a.GenericKey; gk != nil {
				n++
				if gk.DescriptorValue == "" {
					p.add(ap+".genericKey.descriptorValue", "required")
				}
			}
			if hv := a.HeaderValueMatch; hv != nil {
				n++
				if hv.DescriptorValue == "" {
					p.add(ap+".headerValueMatch.descriptorValue", "required")
				}
				if len(hv.Headers) == 0 {
					p.add(ap+".headerValueMatch.headers", "at least one header match is required")
				}
				for k := range hv.Headers {
					validateKeyMatch(p, fmt.Sprintf("%s.headerValueMatch.headers[%d]", ap, k), &hv.Headers[k])
				}
			}
			if q := a.QueryParameters; q != nil {
				n++
				if q.QueryParameterName == "" || q.DescriptorKey == "" {
					p.add(ap+".queryParameters", "queryParameterName and descriptorKey are required")
				}
			}
			if n != 1 {
				p.add(ap, "set exactly one of requestHeaders, remoteAddress, genericKey, headerValueMatch or queryParameters")
			}
		}
	}
}

// parseRate reads nginx's "10r/s" or "600r/m" into requests per second.
func parseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(s, "r/")
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || n <= 0 || (unit != "s" && unit != "m") {
		return 0, fmt.Errorf("%q is not a rate such as 10r/s or 600r/m", s)
	}
	if unit == "m" {
		return n / 60, nil
	}
	return n, nil
}

// RatePerSecond is the leaky bucket's rate in requests per second; the config has
// been validated.
func (lb *LeakyBucket) RatePerSecond() float64 {
	r, _ := parseRate(lb.Rate)
	return r
}

func validateMatch(p *problems, path string, m *Match) {
	if m.Path == nil && m.Method == "" && len(m.Headers) == 0 && len(m.QueryParams) == 0 {
		p.add(path, "empty match; leave out match for a catch-all route")
	}
	if m.Path != nil {
		validateStringMatch(p, path+".path", m.Path, false)
		for _, s := range []*string{m.Path.Exact, m.Path.Prefix} {
			if s != nil && !strings.HasPrefix(*s, "/") {
				p.add(path+".path", "%q must start with /", *s)
			}
		}
	}
	if m.Method != "" && !methodPattern.MatchString(m.Method) {
		p.add(path+".method", "%q must be an upper-case HTTP method such as GET", m.Method)
	}
	for i := range m.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", path, i)
		if !isToken(m.Headers[i].Name) {
			p.add(hp+".name", "%q is not a valid header name", m.Headers[i].Name)
		}
		validateKeyMatch(p, hp, &m.Headers[i])
	}
	for i := range m.QueryParams {
		qp := fmt.Sprintf("%s.queryParams[%d]", path, i)
		if m.QueryParams[i].Name == "" {
			p.add(qp+".name", "required")
		}
		validateKeyMatch(p, qp, &m.QueryParams[i])
	}
}

func validateKeyMatch(p *problems, path string, k *KeyMatch) {
	validateStringMatch(p, path, &k.StringMatch, k.Present)
}

func validateStringMatch(p *problems, path string, s *StringMatch, present bool) {
	n := 0
	for _, v := range []*string{s.Exact, s.Prefix, s.Regex} {
		if v != nil {
			n++
		}
	}
	if present {
		n++
	}
	if n != 1 {
		if present || path[len(path)-1] == ']' {
			p.add(path, "set exactly one of exact, prefix, regex or present")
		} else {
			p.add(path, "set exactly one of exact, prefix or regex")
		}
	}
	if s.Regex != nil {
		if _, err := regexp.Compile(*s.Regex); err != nil {
			p.add(path+".regex", "%v", err)
		}
	}
}

// catchAllCovers reports whether route a, having no match, takes every
// request that route b could match, which makes b unreachable.
func catchAllCovers(a, b *Route) bool {
	if len(a.Match) > 0 {
		return false
	}
	if len(a.Hosts) == 0 {
		return true
	}
	if len(b.Hosts) == 0 {
		return false
	}
	for _, hb := range b.Hosts {
		covered := false
		for _, ha := range a.Hosts {
			if HostMatches(ha, hb) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// HostMatches reports whether a request for host is served by pattern: an
// exact name, or "*.example.com" for any name ending in ".example.com".
// host must be lower-case and without a port.
func HostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// CheckMatch validates a match built outside a config file, such as one
// sent to the admin API. path prefixes the field names in the errors.
func CheckMatch(path string, m *Match) ErrorList {
	var p problems
	validateMatch(&p, path, m)
	return ErrorList(p)
}

// ParsePrefix reads an IP address or a CIDR as a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var retryOnValues = map[string]bool{"connect-failure": true, "refused-stream": true, "reset": true, "502": true, "503": true, "504": true}

// names lists a set's names, sorted, for an error that says what is valid.
func names[V any](set map[string]V) string {
	if len(set) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ", ")
}
