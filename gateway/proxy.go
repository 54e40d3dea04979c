package gateway

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/gateway/routing"
	"github.com/cutover-dev/cutover/gateway/upstream"
)

// Reasons the gateway answers a request itself, sent in x-cutover-reason.
const (
	ReasonNoRoute           = "no-route"
	ReasonNoHealthyUpstream = "no-healthy-upstream"
	ReasonConnectError      = "upstream-connect-error"
	ReasonTimeout           = "upstream-timeout"
	ReasonReset             = "upstream-reset"
	ReasonBodyTooLarge      = "request-body-too-large"
	ReasonRateLimited       = "rate-limited"
	ReasonConnectRefused    = "connect-not-allowed"
	// ReasonOverflow is the answer when a backend's circuit breaker is full.
	ReasonOverflow = "overflow"
	// ReasonRateLimitServiceFailed is a global limit's answer when the
	// service failed and failureModeDeny is set.
	ReasonRateLimitServiceFailed = "ratelimit-service-failed"
)

// HeaderReason names why the gateway, not an upstream, answered.
const HeaderReason = "X-Cutover-Reason"

var errNoHealthyUpstream = errors.New("no healthy upstream")

// exchange is one request's way through the gateway, shared by the handler,
// the proxy's hooks and the upstream transport through the context.
type exchange struct {
	route     *route
	plan      *routing.Split
	backend   int               // index into route.backends; changes on failover
	tried     upstream.IndexSet // backends tried
	triedEP   upstream.IndexSet // endpoints of the current backend tried
	breaker   *upstream.Breaker // the circuit breaker holding this request's place
	bucket    int               // sticky bucket, or -1
	setSticky bool              // the sticky cookie must be (re)written
	status    int
	// pair receives the primary's answer when the request was mirrored
	// with a comparison; maxBody bounds what is compared.
	pair    *mirror.Pair
	maxBody int64

	// clientCtx is the request's context before the route's timeout: it
	// ends when the client goes away.
	clientCtx context.Context
	// body wraps the client's request body, and answer the upstream's
	// response body, so that a failure is blamed on the side that failed.
	body     clientBody
	response upstreamBody
	// fault is which side failed the exchange, for the log: "client",
	// "upstream", or "" when none did.
	fault  string
	reason string // x-cutover-reason, when the gateway answered itself

	// For the access log.
	mirrored      bool
	limitResult   string
	endpoint      *upstream.Endpoint
	retries       int
	upstreamStart time.Time
	upstreamTime  time.Duration

	// peerTrusted: the peer is a trusted proxy, whose forwarding headers
	// are believed and extended.
	peerTrusted bool
	// ip is the client's address, worked out once (X-Forwarded-For through
	// trusted proxies) for limits, mirroring, stickiness and the log.
	ip      string
	ipKnown bool

	// fast is the fast server's part, unused on net/http's.
	fast fastExchange
}

func (x *exchange) clientIP(r inbound, tp trustedProxies) string {
	if !x.ipKnown {
		x.ip, x.ipKnown = tp.clientIP(r), true
	}
	return x.ip
}

type exchangeKey struct{}

// proxyHandler serves requests from the current table.
type proxyHandler struct {
	table   func() *Table
	pool    *Pool
	metrics *Metrics
	maxBody int64
	slog    *slog.Logger
	rp      *httputil.ReverseProxy
	// log is the access log; nil when off.
	log *accessLog
}

func newProxyHandler(table func() *Table, pool *Pool, m *Metrics, maxBody int64, log *slog.Logger) *proxyHandler {
	h := &proxyHandler{table: table, pool: pool, metrics: m, maxBody: maxBody, slog: log}
	h.rp = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: &upstreamTransport{pool: pool},
		// 0: responses of known length are written in one go; event streams
		// and responses of unknown length are flushed after every write.
		FlushInterval:  0,
		ModifyResponse: modifyResponse,
		ErrorHandler:   h.proxyError,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return h
}

func (h *proxyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{backend: -1, clientCtx: r.Context()}
	t := h.table()
	in := httpIn{r}
	x.peerTrusted = t.trusted.trustsPeer(in)
	ownHeaders(r, x.peerTrusted, t.preserveRequestID)
	if h.log != nil {
		lw := &loggedWriter{ResponseWriter: w}
		w = lw
		defer func() { h.logRequest(in, lw.status, lw.bytes, x, start) }()
	}
	if r.Method == http.MethodConnect {
		// Never a tunnel to wherever the client asks: not an open proxy.
		x.reply(w, http.StatusMethodNotAllowed, ReasonConnectRefused)
		return
	}
	rt := t.Route(r)
	if rt == nil {
		h.metrics.unrouted.Inc()
		x.reply(w, http.StatusNotFound, ReasonNoRoute)
		return
	}
	x.route = rt
	if r.Header.Get("Upgrade") != "" {
		rt.filterUpgrade(r.Header)
	}
	if len(rt.limits) > 0 || len(rt.globals) > 0 {
		ok, result := rt.applyLimits(w, r, x, start)
		x.limitResult = result
		if !ok {
			return
		}
	}
	plan := rt.plan.Load()
	if plan.Total == 0 {
		rt.localMetrics.observe(http.StatusServiceUnavailable, start, true)
		x.reply(w, http.StatusServiceUnavailable, ReasonNoHealthyUpstream)
		return
	}
	maxBody := h.maxBody
	if rt.maxBody > 0 {
		maxBody = rt.maxBody
	}
	if r.ContentLength > maxBody {
		rt.localMetrics.observe(http.StatusRequestEntityTooLarge, start, true)
		x.fault = "client"
		x.reply(w, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		x.body.ReadCloser = http.MaxBytesReader(w, r.Body, maxBody)
		r.Body = &x.body
	}
	x.plan = plan
	if m := rt.mirror; m != nil && m.Selects(r) {
		x.mirrored = true
		x.pair, x.maxBody = m.Start(r, x.clientIP(in, rt.trusted)), m.MaxBody()
	}
	x.backend = rt.choose(in, plan, x)
	x.tried.Add(x.backend)
	b := rt.backends[x.backend]
	if !b.Breaker.Admit() {
		rt.localMetrics.observe(http.StatusServiceUnavailable, start, true)
		x.reply(w, http.StatusServiceUnavailable, ReasonOverflow)
		return
	}
	x.breaker = b.Breaker
	// The place is held on whichever backend finally serves the request.
	defer func() { x.breaker.Release() }()
	ctx := context.WithValue(r.Context(), exchangeKey{}, x)
	if rt.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.timeout)
		defer cancel()
	}
	// Counted even when the proxy aborts a response whose upstream body
	// failed half-way (it panics with http.ErrAbortHandler).
	defer func() {
		if x.fault == "client" {
			rt.localMetrics.observe(x.status, start, true)
		} else {
			rt.metrics[x.backend].observe(x.status, start, false)
		}
	}()
	h.rp.ServeHTTP(w, r.WithContext(ctx))
}

// reply writes the gateway's own short answer and keeps its status and
// reason for the log.
func (x *exchange) reply(w http.ResponseWriter, code int, reason string) {
	x.status, x.reason = code, reason
	w.Header().Set(HeaderReason, reason)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, "%d %s: %s\n", code, http.StatusText(code), reason)
}

func rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(exchangeKey{}).(*exchange)
	// A trusted proxy's chain is appended to, as nginx's
	// $proxy_add_x_forwarded_for and Envoy do; anyone else's was removed
	// by ownHeaders and starts again from the peer.
	if xff, ok := pr.In.Header["X-Forwarded-For"]; ok {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Real-IP", x.clientIP(httpIn{pr.In}, x.route.trusted))
	// Keep the client's Host, as Envoy and Istio do: migrated apps often
	// route by host name. X-Forwarded-Host carries it too.
	pr.Out.Host = pr.In.Host
}

// Request ids are a random prefix drawn once per process and a counter:
// unique without a crypto/rand call per request.
var (
	requestIDPrefix = func() (p [8]byte) { crand.Read(p[:]); return p }()
	requestIDs      atomic.Uint64
)

func newRequestID() string {
	var out [32]byte
	return string(appendRequestID(out[:0]))
}

// appendRequestID appends a new request id to dst.
func appendRequestID(dst []byte) []byte {
	var b [16]byte
	copy(b[:8], requestIDPrefix[:])
	binary.BigEndian.PutUint64(b[8:], requestIDs.Add(1))
	return hex.AppendEncode(dst, b[:])
}

func modifyResponse(resp *http.Response) error {
	x := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	x.status = resp.StatusCode
	if x.pair != nil {
		resp.Body = mirror.Capture(resp, x.pair, x.maxBody)
	}
	if c := x.appendStickyCookie(nil, httpIn{resp.Request}); c != nil {
		resp.Header.Add("Set-Cookie", string(c))
	}
	return nil
}

// appendStickyCookie appends the Set-Cookie value that pins the client to
// its bucket and backend, as http.Cookie.String writes it, or returns dst
// unchanged when the client's cookie already says so. Name and value are
// tokens (the name validated, the value a number and a backend's name).
func (x *exchange) appendStickyCookie(dst []byte, r inbound) []byte {
	if !x.setSticky && (x.bucket < 0 || !x.route.drain || x.backend == x.cookieBackend(r)) {
		return dst
	}
	dst = append(append(dst, x.route.sticky.Cookie.Name...), '=')
	dst = strconv.AppendInt(dst, int64(x.bucket), 10)
	dst = append(append(dst, '.'), x.route.backends[x.backend].Name...)
	dst = append(dst, "; Path=/"...)
	switch ma := x.route.cookieMaxAge; {
	case ma > 0:
		dst = strconv.AppendInt(append(dst, "; Max-Age="...), int64(ma), 10)
	case ma < 0:
		dst = append(dst, "; Max-Age=0"...)
	}
	return append(dst, "; HttpOnly; SameSite=Lax"...)
}

func (h *proxyHandler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(exchangeKey{}).(*exchange)
	x.pair.PrimaryFailed()
	if berr := x.body.failure(); berr != nil {
		// The client's body failed: the upstream is not at fault.
		code, kind := clientFault(berr)
		x.fault = "client"
		h.metrics.clientErrors.WithLabelValues(x.route.name, kind).Inc()
		if code == 499 {
			x.status = 499 // nobody reads an answer
			return
		}
		x.reply(w, code, kind)
		return
	}
	if x.clientCtx.Err() != nil {
		// The client went away; nobody reads an answer. 499 as nginx logs it.
		x.fault, x.status = "client", 499
		h.metrics.clientErrors.WithLabelValues(x.route.name, ReasonClientGone).Inc()
		return
	}
	code, reason, fault := upstreamFailure(err)
	x.fault = fault
	x.reply(w, code, reason)
	h.slog.Warn("upstream error", "route", x.route.name, "backend", x.route.backends[x.backend].Name, "status", x.status, "err", err)
}

// upstreamTransport picks the endpoint for each attempt. A connection that
// could not be made never reached the upstream, so a request without a body
// is tried again on another endpoint, then on another backend of the route.
type upstreamTransport struct {
	pool *Pool
}

var errOverflow = errors.New("every backend left is at its circuit breaker's limit")

func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	x := req.Context().Value(exchangeKey{}).(*exchange)
	// A request whose body was sent cannot be sent again.
	bodyless := req.Body == nil || req.Body == http.NoBody
	resp, err := forward[*http.Response](x, t.pool, bodyless, upstream.IsIdempotent(req.Method), httpTries{req})
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	// A 2xx-4xx counts as a success only once its body arrived whole.
	x.response = upstreamBody{ReadCloser: resp.Body, pool: t.pool.upstream, x: x, done: resp.StatusCode >= 500}
	resp.Body = &x.response
	return resp, nil
}

// tries is how forward makes one try on either server's client.
type tries[R any] interface {
	// try sends the request to e of b and returns the answer and its status.
	try(b *upstream.Backend, e *upstream.Endpoint) (R, int, error)
	// discard drops an answer that is retried.
	discard(R)
	// timedOut reports whether the route's timeout has passed.
	timedOut() bool
}

// httpTries are the net/http path's tries.
type httpTries struct{ req *http.Request }

func (t httpTries) try(b *upstream.Backend, e *upstream.Endpoint) (*http.Response, int, error) {
	x := t.req.Context().Value(exchangeKey{}).(*exchange)
	t.req.URL.Scheme, t.req.URL.Host = e.URL.Scheme, e.URL.Host
	resp, err := attempt(b.Transport, t.req, x.route.retry.perTry)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.StatusCode, nil
}

func (t httpTries) discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func (t httpTries) timedOut() bool { return t.req.Context().Err() != nil }

// forward sends a request to the chosen backend under the route's retry
// policy: a connection that could not be made never reached the upstream,
// so a request without a body is tried again on another endpoint, then on
// another backend of the route. It returns the answer the client gets.
func forward[R any](x *exchange, pool *Pool, bodyless, idempotent bool, t tries[R]) (R, error) {
	var none R
	policy := x.route.retry
	idempotent = idempotent && bodyless
	x.upstreamStart = time.Now()
	deadline := x.upstreamStart.Add(policy.tryDuration)
	var lastErr error
	for n := 0; ; n++ {
		if n > 0 && (n >= policy.maxTries || time.Now().After(deadline)) {
			return none, lastErr // every retry loop is bounded, whatever the sizes
		}
		now := time.Now().UnixNano()
		b := x.route.backends[x.backend]
		i := b.PickEndpoint(now, &x.triedEP)
		if i < 0 {
			next, err := x.route.failover(x, now)
			if next < 0 && lastErr != nil && err != errOverflow {
				return none, lastErr // the client learns why the last try failed
			}
			if next < 0 {
				return none, err
			}
			n-- // choosing another backend is not a try
			continue
		}
		retry := n > 0
		// A retry after a connection that was never made costs the upstream
		// nothing, so it does not take from the retry budget.
		budgeted := retry && !isDialError(lastErr)
		if retry {
			if budgeted && !b.Breaker.StartRetry() {
				return none, lastErr
			}
			x.retries++
		}
		x.triedEP.Add(i)
		e := b.Endpoints[i]
		x.endpoint = e
		resp, status, err := t.try(b, e)
		if budgeted {
			b.Breaker.EndRetry()
		}
		if err != nil {
			if x.body.failure() != nil || x.clientCtx.Err() != nil {
				return none, err // the client's fault: nothing to count or retry
			}
			pool.upstream.Observe(b, e, upstream.OutcomeLocal)
			lastErr = err
			if t.timedOut() {
				return none, err // the route's timeout
			}
			if bodyless && policy.retriesError(err, idempotent, x.retries) {
				continue
			}
			return none, err
		}
		if o := upstream.StatusOutcome(status); o != upstream.OutcomeOK {
			pool.upstream.Observe(b, e, o)
		}
		if policy.retriesStatus(status, idempotent, x.retries) && x.route.anotherEndpoint(x, time.Now().UnixNano()) {
			t.discard(resp)
			lastErr = fmt.Errorf("upstream answered %d", status)
			continue
		}
		x.upstreamTime = time.Since(x.upstreamStart)
		if status == http.StatusSwitchingProtocols {
			// The body is the upgraded connection, which the proxy copies both
			// ways; the upstream answered.
			pool.upstream.Observe(b, e, upstream.OutcomeOK)
		}
		return resp, nil
	}
}

// failover moves the request to the usable backend not yet tried with the
// largest share, taking a place in its circuit breaker and giving back the
// one it held. It returns the backend's index, or -1 and why there is none.
func (rt *route) failover(x *exchange, now int64) (int, error) {
	err := errNoHealthyUpstream
	for {
		next := rt.fallback(&x.tried, now)
		if next < 0 {
			return -1, err
		}
		x.tried.Add(next)
		nb := rt.backends[next].Breaker
		if nb != x.breaker {
			if !nb.Admit() {
				err = errOverflow
				continue
			}
			x.breaker.Release()
			x.breaker = nb
		}
		x.backend = next
		x.triedEP.Reset()
		return next, nil
	}
}

// anotherEndpoint reports whether a retry has somewhere else to go.
func (rt *route) anotherEndpoint(x *exchange, now int64) bool {
	return rt.backends[x.backend].PickEndpoint(now, &x.triedEP) >= 0 || rt.fallback(&x.tried, now) >= 0
}

// choose picks the backend for a request: by sticky bucket when the route
// is sticky and the client can be told apart, else by the smooth schedule.
func (rt *route) choose(r inbound, p *routing.Split, x *exchange) int {
	x.bucket = -1
	st := rt.sticky
	if st != nil {
		switch {
		case st.Cookie != nil:
			if c, ok := r.Cookie(st.Cookie.Name); ok {
				if bucket, name, ok := routing.ParseStickyCookie(c); ok {
					x.bucket = bucket
					if rt.drain {
						if i := rt.draining(name, p); i >= 0 {
							return i
						}
					}
				}
			}
			if x.bucket < 0 {
				x.bucket = rand.IntN(routing.Buckets)
				x.setSticky = true
			}
		case st.Header != "":
			if v := r.Header(st.Header); v != "" {
				x.bucket = routing.BucketOf(v)
			}
		case st.ClientIP:
			x.bucket = routing.BucketOf(x.clientIP(r, rt.trusted))
		}
	}
	if x.bucket >= 0 {
		if i := p.ForBucket(x.bucket); i >= 0 {
			return i
		}
	}
	return p.Next(rt.counter.Add(1) - 1)
}

// draining returns the index of the named backend if it is set to weight 0
// but still usable, so that its sticky clients may stay; else -1.
func (rt *route) draining(name string, p *routing.Split) int {
	for i, b := range rt.backends {
		if b.Name == name && rt.weights[i] == 0 && p.Usable[i] {
			return i
		}
	}
	return -1
}

// cookieBackend is the index of the backend the request's sticky cookie
// names, or -1.
func (x *exchange) cookieBackend(r inbound) int {
	c, ok := r.Cookie(x.route.sticky.Cookie.Name)
	if !ok {
		return -1
	}
	_, name, ok := routing.ParseStickyCookie(c)
	if !ok {
		return -1
	}
	for i, b := range x.route.backends {
		if b.Name == name {
			return i
		}
	}
	return -1
}

// fallback returns the usable backend, not yet tried, with the largest
// effective weight; failing that, one whose endpoints wait for their first
// check; or -1.
func (rt *route) fallback(tried *upstream.IndexSet, now int64) int {
	best := -1
	p := rt.plan.Load()
	for i, b := range rt.backends {
		if tried.Has(i) || !b.Usable(now) {
			continue
		}
		if best < 0 || p.Effective[i] > p.Effective[best] {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	for i, b := range rt.backends {
		if !tried.Has(i) && b.Untested(now) {
			return i
		}
	}
	return -1
}

// bufferPool reuses the proxy's 32 KiB copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
