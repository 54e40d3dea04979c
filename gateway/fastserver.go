package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/gateway/routing"
	"github.com/cutover-dev/cutover/gateway/upstream"
)

// The fast server serves cleartext HTTP/1.1 listeners on fasthttp's
// server: a request is parsed once into a reused fasthttp.Request, routed,
// written as it is to the upstream over the fast client and answered from
// the reused fasthttp.Response. net/http's server costs a goroutine hand-off
// and a context, a request and a response per request; on this path those
// were most of the CPU left (bench/README.md).
//
// What it does not serve the same way it hands over, connection and all,
// to a net/http server running the same handler: upgrades (WebSocket),
// chunked request bodies and bodies larger than what arrives with the head
// (they stream, and their failures are the client's), HTTP/1.0, requests in
// absolute form, and routes whose features need net/http's types (global
// limits, compared mirrors, backends on the standard client or HTTPS). The
// connection stays on net/http from then on.

// fastBodyMax is the largest request body the fast path takes: the server
// reads it with the head, so the upstream is never kept waiting on the
// client. Larger bodies are handed over and streamed.
const fastBodyMax = 8 << 10

// fastServer is one cleartext listener's fast server and its hand-over.
type fastServer struct {
	h        *proxyHandler
	srv      *fasthttp.Server
	handover *handover
	// draining asks clients to close their connections after their answer.
	draining atomic.Bool
}

// fastIn is a fasthttp request as an inbound. It lives in the exchange.
type fastIn struct {
	ctx             *fasthttp.RequestCtx
	path, query     string
	peer            netip.Addr
	peerStr         string
	parsed, peerSet bool
}

// b2s views b as a string without a copy, for comparisons that end before
// b changes.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (in *fastIn) Method() string {
	m := in.ctx.Request.Header.Method()
	for _, known := range [...]string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		if b2s(m) == known {
			return known
		}
	}
	return string(m)
}

// parse splits the raw request URI as net/http's URL does: the path
// unescaped, the query as it came. fasthttp's own URI parsing would make
// Request.Write send its normalised form instead of the client's.
func (in *fastIn) parse() {
	if in.parsed {
		return
	}
	in.parsed = true
	// A copy: the client's URI is written again before the log reads it.
	p, q, _ := strings.Cut(string(in.ctx.Request.Header.RequestURI()), "?")
	if strings.IndexByte(p, '%') >= 0 {
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
	}
	in.path, in.query = p, q
}

func (in *fastIn) Path() string     { in.parse(); return in.path }
func (in *fastIn) RawQuery() string { in.parse(); return in.query }
func (in *fastIn) Proto() string    { return "HTTP/1.1" }
func (in *fastIn) Host() string     { return b2s(in.ctx.Request.Header.Host()) }

func (in *fastIn) HeaderValues(name string) []string {
	var out []string
	for _, v := range in.ctx.Request.Header.PeekAll(name) {
		out = append(out, string(v))
	}
	return out
}

func (in *fastIn) Header(name string) string { return b2s(in.ctx.Request.Header.Peek(name)) }

func (in *fastIn) Cookie(name string) (string, bool) {
	v := in.ctx.Request.Header.Cookie(name)
	return b2s(v), v != nil
}

func (in *fastIn) PeerAddr() netip.Addr {
	if !in.peerSet {
		in.peerSet = true
		if a, ok := in.ctx.RemoteAddr().(*net.TCPAddr); ok {
			in.peer, _ = netip.AddrFromSlice(a.IP)
			in.peer = in.peer.Unmap()
		}
	}
	return in.peer
}

func (in *fastIn) Peer() (netip.Addr, string) {
	a := in.PeerAddr()
	if in.peerStr == "" && a.IsValid() {
		in.peerStr = a.String()
	}
	return a, in.peerStr
}

// fastServable reports whether the fast path can serve the route's
// requests: every backend on the fast client with cleartext endpoints, no
// global limit (its client speaks net/http's request) and no compared
// mirror (the comparison reads net/http's response).
func (c *routeConfig) fastServable() bool {
	if len(c.globals) > 0 || c.mirror != nil && (c.mirror.Compares() || !c.mirror.Fast()) {
		return false
	}
	for _, b := range c.backends {
		if !b.FastOnly() {
			return false
		}
	}
	return true
}

// handOverReason is why a request must go to net/http (see above), or "".
func handOverReason(h *fasthttp.RequestHeader) string {
	uri := h.RequestURI()
	switch {
	case len(h.Peek("Upgrade")) > 0:
		return "upgrade"
	case h.ContentLength() == -1:
		return "chunked-body"
	case h.ContentLength() > fastBodyMax:
		return "large-body"
	case !h.IsHTTP11():
		return "http1.0"
	case len(uri) == 0 || uri[0] != '/' || h.IsConnect():
		return "request-target"
	}
	return ""
}

func (f *fastServer) serve(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	h := f.h
	if why := handOverReason(&req.Header); why != "" {
		h.metrics.handovers.WithLabelValues(why).Inc()
		f.handover.take(ctx)
		return
	}
	start := ctx.Time()
	x := &exchange{backend: -1, clientCtx: context.Background()}
	x.fast.x, x.fast.in.ctx = x, ctx
	in := &x.fast.in
	t := h.table()
	rt := t.routeFor(in, routing.HostOf(b2s(req.Header.Host())))
	if rt != nil && !rt.fast {
		h.metrics.handovers.WithLabelValues("route").Inc()
		f.handover.take(ctx)
		return
	}
	if f.draining.Load() {
		ctx.SetConnectionClose()
	}
	x.peerTrusted = t.trusted.trustsPeer(in)
	seen := scanRequestHeaders(req.Header.RawHeaders())
	ownFastHeaders(&req.Header, seen, x.peerTrusted, t.preserveRequestID, x.fast.scratch[:0])
	bodyLen := max(req.Header.ContentLength(), 0)
	x.body.n.Store(int64(bodyLen))
	x.fast.h = h
	defer x.fast.handlerDone()
	if rt == nil {
		h.metrics.unrouted.Inc()
		x.fast.reply(http.StatusNotFound, ReasonNoRoute)
		return
	}
	x.route = rt
	x.fast.start = start
	if len(rt.limits) > 0 {
		refused, _, result := rt.takeLocal(in, x, ctx.Done())
		x.limitResult = result
		if refused != nil {
			ctx.Response.Header.Set(HeaderRateLimited, "local")
			rt.localMetrics.observe(refused.status, start, true)
			x.fast.reply(refused.status, ReasonRateLimited)
			return
		}
	}
	plan := rt.plan.Load()
	if plan.Total == 0 {
		rt.localMetrics.observe(http.StatusServiceUnavailable, start, true)
		x.fast.reply(http.StatusServiceUnavailable, ReasonNoHealthyUpstream)
		return
	}
	maxBody := h.maxBody
	if rt.maxBody > 0 {
		maxBody = rt.maxBody
	}
	if int64(req.Header.ContentLength()) > maxBody {
		rt.localMetrics.observe(http.StatusRequestEntityTooLarge, start, true)
		x.fault = "client"
		x.fast.reply(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
		return
	}
	if bodyLen > 0 {
		if err := readFastBody(req, bodyLen); err != nil {
			code, kind := clientFault(err)
			x.fault = "client"
			h.metrics.clientErrors.WithLabelValues(rt.name, kind).Inc()
			rt.localMetrics.observe(code, start, true)
			ctx.SetConnectionClose()
			x.fast.reply(code, kind)
			return
		}
	}
	x.plan = plan
	if m := rt.mirror; m != nil && m.SelectsMethod(in.Method()) {
		x.mirrored = true
		m.StartFast(mirrorCopy(req, x.clientIP(in, rt.trusted), m.ShadowHost(in.Host())))
	}
	x.backend = rt.choose(in, plan, x)
	x.tried.Add(x.backend)
	b := rt.backends[x.backend]
	if !b.Breaker.Admit() {
		rt.localMetrics.observe(http.StatusServiceUnavailable, start, true)
		x.fast.reply(http.StatusServiceUnavailable, ReasonOverflow)
		return
	}
	x.breaker = b.Breaker
	x.fast.counted = true
	forwardHeaders(&req.Header, seen, x, in, x.fast.scratch[:0])
	forwardURI(req)
	if rt.timeout > 0 {
		x.fast.until = start.Add(rt.timeout)
	}
	x.fast.replayable = bodyLen == 0 && (upstream.SafeMethod(in.Method()) ||
		len(req.Header.Peek("Idempotency-Key")) > 0 || len(req.Header.Peek("X-Idempotency-Key")) > 0)
	body, err := forward[*upstream.FastBody](x, h.pool, bodyLen == 0, upstream.IsIdempotent(in.Method()), &x.fast)
	if err != nil {
		ctx.Response.Reset()
		code, reason, fault := upstreamFailure(err)
		x.fault = fault
		x.fast.reply(code, reason)
		h.slog.Warn("upstream error", "route", rt.name, "backend", rt.backends[x.backend].Name, "status", code, "err", err)
		return
	}
	resp := &ctx.Response
	x.status = resp.StatusCode()
	if responseHopByHop(&resp.Header) {
		removeHopByHop(&resp.Header)
	}
	if c := x.appendStickyCookie(x.fast.scratch[:0], in); len(c) > 0 {
		resp.Header.AddBytesV("Set-Cookie", c)
	}
	if body == nil {
		if x.status < 500 {
			h.pool.upstream.Observe(rt.backends[x.backend], x.endpoint, upstream.OutcomeOK)
		}
		return
	}
	// The server writes the body after this handler returns; the exchange
	// ends with it.
	x.fast.streaming, x.fast.body = true, body
	body.Done = x.fast.bodyDone
	resp.SetBodyStream(body, resp.Header.ContentLength())
}

var bodyBuffers = sync.Pool{New: func() any { return new([fastBodyMax]byte) }}

// readFastBody reads the client's body, of n bytes, whole: a body that stops
// coming or is cut fails here, as the client's fault, before any upstream is
// asked.
func readFastBody(req *fasthttp.Request, n int) error {
	buf := bodyBuffers.Get().(*[fastBodyMax]byte)
	defer bodyBuffers.Put(buf)
	if _, err := io.ReadFull(req.BodyStream(), buf[:n]); err != nil {
		return err
	}
	req.SetBody(buf[:n])
	return nil
}

// fastExchange is the fast path's part of an exchange.
type fastExchange struct {
	x          *exchange
	h          *proxyHandler
	in         fastIn
	start      time.Time
	until      time.Time // the route's timeout, zero when none
	replayable bool
	// counted: a backend was chosen and holds a breaker place; the answer
	// is the backend's in the metrics.
	counted   bool
	streaming bool
	body      *upstream.FastBody // the answer's body, when it streams
	bytes     int64
	finished  bool
	// scratch builds header values without an allocation.
	scratch [128]byte
}

func (f *fastExchange) try(b *upstream.Backend, e *upstream.Endpoint) (*upstream.FastBody, int, error) {
	now := time.Now()
	headBy := now.Add(upstream.HeaderTimeout)
	perTry := false
	if p := f.x.route.retry.perTry; p > 0 && now.Add(p).Before(headBy) {
		headBy, perTry = now.Add(p), true
	}
	if !f.until.IsZero() && f.until.Before(headBy) {
		headBy, perTry = f.until, false
	}
	resp := &f.in.ctx.Response
	resp.Reset()
	body, err := b.Fast().Do(&f.in.ctx.Request, resp, e, headBy, f.until, f.replayable)
	if err == upstream.ErrFastHeadTimeout {
		if !perTry {
			err = context.DeadlineExceeded
		} else {
			err = perTryTimeout{}
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return body, resp.StatusCode(), nil
}

func (f *fastExchange) discard(b *upstream.FastBody) {
	if b != nil {
		b.Close()
	}
}

func (f *fastExchange) timedOut() bool { return !f.until.IsZero() && !time.Now().Before(f.until) }

// reply writes the gateway's own short answer.
func (f *fastExchange) reply(code int, reason string) {
	f.x.status, f.x.reason = code, reason
	resp := &f.in.ctx.Response
	resp.SetStatusCode(code)
	resp.Header.Set(HeaderReason, reason)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	resp.SetBodyString(strconv.Itoa(code) + " " + http.StatusText(code) + ": " + reason + "\n")
}

// handlerDone ends the exchange, unless its body is still to be written.
func (f *fastExchange) handlerDone() {
	if f.streaming {
		return
	}
	f.bytes = int64(len(f.in.ctx.Response.Body()))
	f.finish()
}

// bodyDone ends an exchange whose answer streamed: whole, or cut by the
// upstream (err) or by the client.
func (f *fastExchange) bodyDone(whole bool, err error) {
	x := f.x
	switch {
	case whole:
		if x.status < 500 {
			f.h.pool.upstream.Observe(x.route.backends[x.backend], x.endpoint, upstream.OutcomeOK)
		}
	case err != nil:
		x.fault = "upstream"
		f.h.pool.upstream.Observe(x.route.backends[x.backend], x.endpoint, upstream.OutcomeLocal)
	default:
		x.fault = "client"
	}
	f.bytes = f.body.N
	f.finish()
}

// finish counts and logs the exchange and gives back its breaker place.
func (f *fastExchange) finish() {
	if f.finished {
		return
	}
	f.finished = true
	x := f.x
	if f.counted {
		x.breaker.Release()
		if x.fault == "client" {
			x.route.localMetrics.observe(x.status, f.start, true)
		} else {
			x.route.metrics[x.backend].observe(x.status, f.start, false)
		}
	}
	if f.h.log != nil {
		f.h.logRequest(&f.in, x.status, f.bytes, x, f.start)
	}
}

// upstreamFailure is the answer to a failed exchange with an upstream, and
// whose fault it was.
func upstreamFailure(err error) (code int, reason, fault string) {
	var ne net.Error
	switch {
	case errors.Is(err, errNoHealthyUpstream):
		return http.StatusServiceUnavailable, ReasonNoHealthyUpstream, ""
	case errors.Is(err, errOverflow) || err == nil:
		// Every backend left was full, or the retry budget ran out before
		// any try.
		return http.StatusServiceUnavailable, ReasonOverflow, ""
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, ReasonTimeout, "upstream"
	case isDialError(err):
		return http.StatusBadGateway, ReasonConnectError, "upstream"
	}
	return http.StatusBadGateway, ReasonReset, "upstream"
}

// requestHeaders says which of the headers the gateway rewrites a request
// brings, from one pass over its raw head: most bring none, and looking
// each up by name costs a key normalisation every time.
type requestHeaders struct {
	hopByHop  bool // a hop-by-hop header (Te and Expect included)
	forwarded bool // X-Forwarded-*, Forwarded or X-Real-IP
	requestID bool
}

func scanRequestHeaders(raw []byte) (s requestHeaders) {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		k := b2s(line[:colon])
		// Most names start with none of x, f or e and have no hop-by-hop
		// header's length, and so are ruled out before any comparison.
		switch k[0] | 0x20 {
		case 'x':
			switch {
			case len(k) > 12 && strings.EqualFold(k[:12], "x-forwarded-"), strings.EqualFold(k, "x-real-ip"):
				s.forwarded = true
			case strings.EqualFold(k, "x-request-id"):
				s.requestID = true
			}
		case 'f':
			s.forwarded = s.forwarded || strings.EqualFold(k, "forwarded")
		case 'e':
			s.hopByHop = s.hopByHop || strings.EqualFold(k, "expect")
		}
		if isHopByHop(k) {
			s.hopByHop = true
		}
	}
	return s
}

// hopByHopLengths has bit n set when a hop-by-hop header's name is n bytes
// long: a name of any other length is not one, with no comparison.
var hopByHopLengths = func() (m uint64) {
	for _, h := range mirror.HopByHop {
		m |= 1 << len(h)
	}
	return m
}()

func isHopByHop(k string) bool {
	if len(k) >= 64 || hopByHopLengths&(1<<len(k)) == 0 {
		return false
	}
	for _, h := range mirror.HopByHop {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}

var headerRequestID = []byte("X-Request-Id")

// ownFastHeaders is ownHeaders on a fasthttp request.
func ownFastHeaders(h *fasthttp.RequestHeader, seen requestHeaders, trusted, preserveID bool, scratch []byte) {
	if !trusted {
		if seen.forwarded {
			var drop [][]byte
			for k := range h.All() {
				if bytes.HasPrefix(k, []byte("X-Forwarded-")) || string(k) == "Forwarded" || string(k) == "X-Real-Ip" {
					drop = append(drop, bytes.Clone(k))
				}
			}
			for _, k := range drop {
				h.DelBytes(k)
			}
		}
		if !preserveID || !seen.requestID {
			h.SetCanonical(headerRequestID, appendRequestID(scratch))
		}
		return
	}
	if !seen.requestID || len(h.PeekBytes(headerRequestID)) == 0 {
		h.SetCanonical(headerRequestID, appendRequestID(scratch))
	}
}

type fastHeader interface {
	Peek(key string) []byte
	DelBytes(key []byte)
	Del(key string)
}

// removeHopByHop removes the hop-by-hop headers and those the Connection
// header names. A response's Trailer announcement stays: the trailers
// themselves follow the body.
func removeHopByHop(h fastHeader) {
	if c := h.Peek("Connection"); len(c) > 0 {
		for tok := range bytes.SplitSeq(bytes.Clone(c), []byte{','}) {
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				h.DelBytes(tok)
			}
		}
	}
	_, resp := h.(*fasthttp.ResponseHeader)
	for _, k := range mirror.HopByHop {
		if resp && k == "Trailer" {
			continue
		}
		h.Del(k)
	}
}

// responseHopByHop reports whether an upstream's answer has a header that
// removeHopByHop would act on. fasthttp keeps Content-Length,
// Transfer-Encoding and Connection: close out of the list it iterates.
func responseHopByHop(h *fasthttp.ResponseHeader) bool {
	for k := range h.All() {
		if isHopByHop(b2s(k)) && !strings.EqualFold(b2s(k), "Trailer") && !strings.EqualFold(b2s(k), "Transfer-Encoding") {
			return true
		}
	}
	return false
}

var (
	headerForwardedFor   = []byte("X-Forwarded-For")
	headerForwardedHost  = []byte("X-Forwarded-Host")
	headerForwardedProto = []byte("X-Forwarded-Proto")
	headerRealIP         = []byte("X-Real-Ip") // in fasthttp's normalised form, as SetCanonical needs
	valueHTTP            = []byte("http")
)

// forwardHeaders makes the client's request the upstream's, as rewrite
// does on the net/http path: hop-by-hop headers removed (Te: trailers
// kept), X-Forwarded-For, -Proto and -Host and X-Real-IP set, the client's
// Host kept. The fast server answered Expect itself.
func forwardHeaders(h *fasthttp.RequestHeader, seen requestHeaders, x *exchange, in *fastIn, scratch []byte) {
	if seen.hopByHop {
		trailers := bytes.Contains(bytes.ToLower(h.Peek("Te")), []byte("trailers"))
		removeHopByHop(h)
		h.Del("Expect")
		if trailers {
			h.Set("Te", "trailers")
		}
	}
	peer := in.PeerAddr()
	// The client is the peer unless the peer is a trusted proxy: then its
	// chain says, and is read before it is extended.
	var realIP []byte
	if x.peerTrusted || x.ipKnown {
		realIP = append(scratch[:0], x.clientIP(in, x.route.trusted)...)
	} else {
		realIP = peer.AppendTo(scratch[:0])
	}
	h.SetCanonical(headerRealIP, realIP) // copied: scratch is free again
	xff := scratch[:0]
	if prior := h.PeekBytes(headerForwardedFor); len(prior) > 0 {
		xff = append(append(xff, prior...), ", "...)
	}
	h.SetCanonical(headerForwardedFor, peer.AppendTo(xff))
	h.SetCanonical(headerForwardedHost, h.Host())
	h.SetCanonical(headerForwardedProto, valueHTTP)
	h.SetNoDefaultContentType(true)
}

// forwardURI keeps the client's request URI and Host for the upstream, as
// they came: fasthttp would write its normalised URI otherwise.
func forwardURI(req *fasthttp.Request) {
	req.URI().DisablePathNormalizing = true
	req.UseHostHeader = true
}

// mirrorCopy is the copy of the client's request the mirror sends, with
// the headers net/http's mirror gives its copy: hop-by-hop ones removed,
// X-Cutover-Mirror, the client added to X-Forwarded-For, the shadow's Host.
func mirrorCopy(req *fasthttp.Request, clientIP, host string) *fasthttp.Request {
	c := fasthttp.AcquireRequest()
	req.CopyTo(c)
	removeHopByHop(&c.Header)
	c.Header.Del("Expect")
	c.Header.Set(mirror.HeaderMirror, "1")
	if prior := c.Header.Peek("X-Forwarded-For"); len(prior) > 0 {
		c.Header.Set("X-Forwarded-For", string(prior)+", "+clientIP)
	} else {
		c.Header.Set("X-Forwarded-For", clientIP)
	}
	c.Header.SetHost(host)
	forwardURI(c)
	c.Header.SetNoDefaultContentType(true)
	return c
}

// handover passes connections from the fast server to a net/http server
// running the same handler.
type handover struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	http  *http.Server
}

func newHandover() *handover {
	return &handover{conns: make(chan net.Conn), done: make(chan struct{})}
}

// take hands the request's connection over: net/http reads the request
// again from its head as fasthttp parsed it, then the body and whatever
// follows on the connection.
func (l *handover) take(ctx *fasthttp.RequestCtx) {
	head := bytes.Clone(ctx.Request.Header.Header())
	var body io.Reader = bytes.NewReader(nil)
	if ctx.Request.Header.ContentLength() > 0 {
		body = ctx.RequestBodyStream()
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		hc := &handedConn{Conn: c, r: io.MultiReader(bytes.NewReader(head), body, c), closed: make(chan struct{})}
		select {
		case l.conns <- hc:
			// fasthttp closes c when this returns: wait for net/http.
			<-hc.closed
		case <-l.done:
		}
	})
}

// Accept, Close and Addr make the handover the net/http server's listener.
func (l *handover) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handover) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handover) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// handedConn is a connection net/http reads from the request's head on.
type handedConn struct {
	net.Conn
	r      io.Reader
	once   sync.Once
	closed chan struct{}
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *handedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
