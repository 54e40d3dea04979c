package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// h1Transport is the HTTP/1.1 leg to cleartext upstreams, run on the
// request's own goroutine: the request is written and the response read by
// the handler that proxies it, over a keep-alive connection taken from the
// endpoint's idle list. net/http.Transport hands every request between the
// handler and two goroutines per connection (writeLoop, readLoop); that
// hand-off was a quarter of the gateway's CPU (bench/README.md).
//
// Requests it cannot serve the same way (upgrades, TLS, HTTP/2) go to
// fallback, the net/http.Transport.
type h1Transport struct {
	dialer net.Dialer
	// dial, when set, replaces the dialer (benchmarks without sockets).
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle  int // idle connections kept per endpoint
	fallback http.RoundTripper
	// fallbackAll sends every request to fallback: the backend asked for
	// the standard client.
	fallbackAll bool

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port

	// fast speaks fasthttp's types over the same connections.
	fast FastClient
}

// h1Conn is one keep-alive connection to an upstream.
type h1Conn struct {
	net.Conn
	head      headLimit // what the reader may still take for an answer's head
	br        *bufio.Reader
	bw        *bufio.Writer
	addr      string
	idleSince time.Time
}

// Idle connections are dropped after idleTimeout, as net/http's
// IdleConnTimeout does; one idle for longer than checkAfter is first
// checked for a close by the upstream (Node.js closes idle keep-alive
// connections after 5 s), because a request with a body sent on a
// connection closed under it cannot be sent again.
const (
	idleTimeout = 90 * time.Second
	checkAfter  = 250 * time.Millisecond
)

// headLimit reads from the connection, failing once an answer's head has
// taken more than its share; off (n < 0) while a body is read.
type headLimit struct {
	r io.Reader
	n int64
}

var errHeadTooLarge = errors.New("upstream response headers too large")

func (h *headLimit) Read(p []byte) (int, error) {
	if h.n < 0 {
		return h.r.Read(p)
	}
	if h.n == 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > h.n {
		p = p[:h.n]
	}
	n, err := h.r.Read(p)
	h.n -= int64(n)
	return n, err
}

func newH1Transport(dialTimeout time.Duration, maxIdle int, fallback http.RoundTripper) *h1Transport {
	t := &h1Transport{
		dialer:   net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		maxIdle:  maxIdle,
		fallback: fallback,
		idle:     map[string][]*h1Conn{},
	}
	t.fast.t = t
	return t
}

// maxResponseHeaderBytes bounds an upstream's response headers, as
// net/http.Transport's default does.
const maxResponseHeaderBytes = 1 << 20

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.fallbackAll || req.URL.Scheme != "http" || req.Header.Get("Upgrade") != "" {
		return t.fallback.RoundTrip(req)
	}
	addr := canonicalAddr(req.URL.Host)
	// A pooled connection the upstream closed while idle fails before any
	// answer; a request that can be sent again then goes on a new one, with
	// net/http's rule: no body, and idempotent or with an idempotency key.
	replayable := (req.Body == nil || req.Body == http.NoBody) && (SafeMethod(req.Method) ||
		req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != "")
	for {
		c, reused, err := t.conn(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		resp, answered, err := t.exchange(req, c)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if reused && !answered && replayable && req.Context().Err() == nil {
			continue
		}
		return nil, err
	}
}

// conn returns an idle connection to addr, or dials one.
func (t *h1Transport) conn(ctx context.Context, addr string) (c *h1Conn, reused bool, err error) {
	for {
		t.mu.Lock()
		c = nil
		if list := t.idle[addr]; len(list) > 0 {
			c = list[len(list)-1]
			t.idle[addr] = list[:len(list)-1]
		}
		t.mu.Unlock()
		if c == nil {
			break
		}
		idle := time.Since(c.idleSince)
		if idle < checkAfter || idle < idleTimeout && !c.closedByPeer() {
			return c, true, nil
		}
		c.Close()
	}
	dial := t.dialer.DialContext
	if t.dial != nil {
		dial = t.dial
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c = &h1Conn{Conn: nc, bw: bufio.NewWriterSize(nc, 16<<10), addr: addr}
	c.head.r = nc
	c.br = bufio.NewReaderSize(&c.head, 16<<10)
	return c, false, nil
}

// put keeps c for the next request to its endpoint, or closes it.
func (t *h1Transport) put(c *h1Conn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	if t.idle != nil && len(t.idle[c.addr]) < t.maxIdle {
		t.idle[c.addr] = append(t.idle[c.addr], c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.Close()
}

// CloseIdleConnections closes every idle connection. It is called when a
// reload replaces or removes the backend's client, so connections in use
// now are closed too when their answers end, instead of lingering idle in a
// client nobody asks any more.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.Close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// exchange writes req on c and reads the answer's head. answered says
// whether any of the answer arrived, after which nothing may be sent again.
func (t *h1Transport) exchange(req *http.Request, c *h1Conn) (*http.Response, bool, error) {
	ctx := req.Context()
	// The context ends the exchange at any point: the client left, or the
	// route's timeout passed.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	c.SetDeadline(time.Now().Add(HeaderTimeout))
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, false, ctxErr(ctx, err)
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, false, ctxErr(ctx, err)
	}
	var resp *http.Response
	for {
		c.head.n = maxResponseHeaderBytes
		if _, err := c.br.Peek(1); err != nil {
			stop()
			return nil, false, ctxErr(ctx, err)
		}
		var err error
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			return nil, true, ctxErr(ctx, err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// An informational answer (100 Continue, 103 Early Hints): the
		// real one follows.
		resp.Body.Close()
	}
	c.head.n = -1
	// The body may take as long as the route allows (an event stream, a
	// download); the write deadline is past use and reset by the next
	// exchange.
	c.SetReadDeadline(time.Time{})
	body := &h1Body{t: t, c: c, stop: stop, rc: resp.Body, keep: !resp.Close && !req.Close}
	resp.Body = body
	if resp.ContentLength == 0 || req.Method == http.MethodHead || resp.StatusCode == 204 || resp.StatusCode == 304 {
		body.done(true)
		resp.Body = http.NoBody
	}
	return resp, true, nil
}

// ctxErr says that the context ended the exchange, when it did.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// h1Body is a response body read straight off the connection; at its end
// the connection goes back to the idle list, if it can be used again.
type h1Body struct {
	t        *h1Transport
	c        *h1Conn
	stop     func() bool
	rc       io.ReadCloser
	keep     bool
	finished bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.done(true)
	} else if err != nil {
		b.done(false)
	}
	return n, err
}

// Close before the end gives the connection up: what is left of the body
// would have to be read first.
func (b *h1Body) Close() error {
	b.done(false)
	return nil
}

func (b *h1Body) done(whole bool) {
	if b.finished {
		return
	}
	b.finished = true
	// A context that fired has set a deadline on the connection: it is
	// not used again.
	fresh := b.stop()
	if whole && fresh && b.keep && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.Close()
}

// canonicalAddr adds the default port to a host that has none.
func canonicalAddr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, "80")
}

// IsIdempotent reports whether a request of method may be sent twice.
func IsIdempotent(method string) bool {
	return SafeMethod(method) || method == http.MethodPut || method == http.MethodDelete
}

// SafeMethod reports whether method only reads.
func SafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}
