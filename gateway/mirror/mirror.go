package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/spec"
	"github.com/valyala/fasthttp"
)

// HeaderMirror marks a mirrored copy of a request.
const HeaderMirror = "X-Cutover-Mirror"

// mirror is a route's shadow traffic: which requests are copied, where, and
// how the answers are compared.
type Mirror struct {
	route      string
	backend    *upstream.Backend
	percent    uint64
	methods    []string
	maxBody    int64
	timeout    time.Duration
	shadowHost bool
	compare    *spec.Compare
	ignore     map[string]bool // canonical header names left out of comparisons
	sem        chan struct{}   // bounds copies in flight
	diffs      *DiffLog
	metrics    Metrics

	total atomic.Uint64 // requests offered
}

func New(route string, m *spec.Mirror, b *upstream.Backend, diffs *DiffLog, metrics Metrics) *Mirror {
	mr := &Mirror{
		route: route, backend: b, percent: uint64(*m.Percent), methods: m.Methods,
		maxBody: m.MaxBodyBytes, timeout: m.Timeout.D(), shadowHost: m.ShadowHost, compare: m.Compare,
		sem: make(chan struct{}, m.MaxInFlight), diffs: diffs, metrics: metrics,
		ignore: map[string]bool{"Date": true, "Set-Cookie": true, "X-Request-Id": true, "Content-Length": true},
	}
	if m.Compare != nil {
		for _, h := range m.Compare.IgnoreHeaders {
			mr.ignore[http.CanonicalHeaderKey(h)] = true
		}
	}
	return mr
}

// selects reports whether r is copied: its method is allowed and the
// deterministic share says so (Traefik's count*100 < total*percent), so that
// 10 % of 1,000 requests is exactly 100.
func (m *Mirror) Selects(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && m.SelectsMethod(r.Method)
}

// SelectsMethod is Selects for a request that is not an upgrade.
func (m *Mirror) SelectsMethod(method string) bool {
	if !slices.Contains(m.methods, method) {
		return false
	}
	// After n requests Traefik's rule has copied ceil(n*percent/100): the
	// n-th is copied when that number grows with it. No lock needed.
	n := m.total.Add(1)
	return ceilDiv(n*m.percent, 100) > ceilDiv((n-1)*m.percent, 100)
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// start reads r's body (up to the limit) so that both the primary and the
// copy can send it, then sends the copy in the background. It returns the
// pair whose primary half the caller fills in, or nil.
func (m *Mirror) Start(r *http.Request, clientIP string) *Pair {
	body, ok := bufferBody(r, m.maxBody)
	if !ok {
		m.metrics.Dropped.WithLabelValues(m.route, "body_too_large").Inc()
		return nil
	}
	select {
	case m.sem <- struct{}{}:
	default:
		m.metrics.Dropped.WithLabelValues(m.route, "pool_full").Inc()
		return nil
	}
	var p *Pair
	if m.compare != nil {
		p = &Pair{m: m, method: r.Method, path: r.URL.RequestURI()}
	}
	req := m.copyRequest(r, body, clientIP)
	go m.send(req, p)
	return p
}

// bufferBody reads a request body of at most max bytes and gives the
// request a replayable copy. A bigger body is left to stream to the primary.
func bufferBody(r *http.Request, max int64) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if r.ContentLength > max {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	rest := r.Body
	if err != nil || int64(len(buf)) > max {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), errReader{err}, rest), rest}
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	return buf, true
}

// errReader replays a read error after the bytes read before it.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}

func (m *Mirror) copyRequest(r *http.Request, body []byte, clientIP string) *http.Request {
	h := r.Header.Clone()
	removeHopByHop(h)
	h.Set(HeaderMirror, "1")
	if prior := h.Get("X-Forwarded-For"); prior != "" {
		h.Set("X-Forwarded-For", prior+", "+clientIP)
	} else {
		h.Set("X-Forwarded-For", clientIP)
	}
	host := m.ShadowHost(r.Host)
	u := *r.URL
	req := &http.Request{
		Method: r.Method, URL: &u, Header: h, Host: host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		ContentLength: int64(len(body)),
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return req
}

// ShadowHost is the Host a copy is sent with: the client's, or with
// shadowHost its "-shadow" name, as Istio's mirror writes it.
func (m *Mirror) ShadowHost(host string) string {
	if !m.shadowHost {
		return host
	}
	if name, port, found := strings.Cut(host, ":"); found {
		return name + "-shadow:" + port
	}
	return host + "-shadow"
}

// Fast reports whether copies can go through the shadow backend's fast
// client.
func (m *Mirror) Fast() bool { return m.backend.FastOnly() }

// StartFast sends a copy the fast server made of a request, its headers
// already the copy's, in the background over the shadow backend's fast
// client, within the same bounds as Start. The copy is released after.
// Mirrors that compare answers are served by net/http's server.
func (m *Mirror) StartFast(copy *fasthttp.Request) {
	if int64(len(copy.Body())) > m.maxBody {
		m.metrics.Dropped.WithLabelValues(m.route, "body_too_large").Inc()
		fasthttp.ReleaseRequest(copy)
		return
	}
	select {
	case m.sem <- struct{}{}:
	default:
		m.metrics.Dropped.WithLabelValues(m.route, "pool_full").Inc()
		fasthttp.ReleaseRequest(copy)
		return
	}
	go m.sendFast(copy)
}

func (m *Mirror) sendFast(req *fasthttp.Request) {
	defer func() { <-m.sem }()
	defer fasthttp.ReleaseRequest(req)
	i := m.backend.PickEndpoint(time.Now().UnixNano(), &upstream.IndexSet{})
	if i < 0 {
		m.metrics.Dropped.WithLabelValues(m.route, "no_healthy_upstream").Inc()
		return
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	until := time.Now().Add(m.timeout)
	body, err := m.backend.Fast().Do(req, resp, m.backend.Endpoints[i], until, until, false)
	if err != nil {
		m.metrics.Requests.WithLabelValues(m.route, m.backend.Name, "error").Inc()
		return
	}
	if body != nil {
		// Read to its end, so that the connection is used again.
		io.Copy(io.Discard, io.LimitReader(body, 16<<20))
		body.Close()
	}
	m.metrics.Requests.WithLabelValues(m.route, m.backend.Name, strconv.Itoa(resp.StatusCode())).Inc()
}

// send is one copy's life, with its own context and timeout; its answer is
// read, compared and thrown away.
func (m *Mirror) send(req *http.Request, p *Pair) {
	defer func() { <-m.sem }()
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	i := m.backend.PickEndpoint(time.Now().UnixNano(), &upstream.IndexSet{})
	if i < 0 {
		m.metrics.Dropped.WithLabelValues(m.route, "no_healthy_upstream").Inc()
		p.set(false, &shadowAnswer{failed: true})
		return
	}
	e := m.backend.Endpoints[i]
	req.URL.Scheme, req.URL.Host = e.URL.Scheme, e.URL.Host
	resp, err := m.backend.Transport.RoundTrip(req.WithContext(ctx))
	if err != nil {
		m.metrics.Requests.WithLabelValues(m.route, m.backend.Name, "error").Inc()
		p.set(false, &shadowAnswer{failed: true})
		return
	}
	a := readAnswer(resp.StatusCode, resp.Header, resp.Body, m.maxBody)
	resp.Body.Close()
	m.metrics.Requests.WithLabelValues(m.route, m.backend.Name, strconv.Itoa(resp.StatusCode)).Inc()
	p.set(false, a)
}

// shadowAnswer is what is compared of an answer.
type shadowAnswer struct {
	failed bool
	status int
	header http.Header
	hash   [32]byte
	prefix []byte
}

const diffPrefixBytes = 512

func readAnswer(status int, h http.Header, body io.Reader, max int64) *shadowAnswer {
	d := sha256.New()
	var prefix bytes.Buffer
	io.Copy(io.MultiWriter(d, &prefixWriter{&prefix}), io.LimitReader(body, max))
	io.Copy(io.Discard, io.LimitReader(body, 16<<20)) // finish the exchange so the connection is reused
	a := &shadowAnswer{status: status, header: h.Clone(), prefix: prefix.Bytes()}
	copy(a.hash[:], d.Sum(nil))
	return a
}

type prefixWriter struct{ b *bytes.Buffer }

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := diffPrefixBytes - w.b.Len(); room > 0 {
		w.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// pair joins the primary's and the shadow's answers; whichever arrives
// second compares them.
type Pair struct {
	m            *Mirror
	method, path string

	mu              sync.Mutex // guards primary and shadow
	primary, shadow *shadowAnswer
}

func (p *Pair) set(primary bool, a *shadowAnswer) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if primary {
		p.primary = a
	} else {
		p.shadow = a
	}
	done := p.primary != nil && p.shadow != nil
	p.mu.Unlock()
	if done {
		p.m.record(p)
	}
}

func (m *Mirror) record(p *Pair) {
	a, b := p.primary, p.shadow
	kind := "same"
	switch {
	case a.failed || b.failed:
		kind = "error"
	case m.compare.Status && a.status != b.status:
		kind = "status"
	case m.compare.Headers && !m.sameHeaders(a.header, b.header):
		kind = "headers"
	case m.compare.Body && a.hash != b.hash:
		kind = "body"
	}
	m.metrics.Diffs.WithLabelValues(m.route, kind).Inc()
	if kind == "same" {
		return
	}
	m.diffs.add(Diff{
		Time: time.Now().UTC(), Kind: kind, Method: p.method, Path: p.path,
		PrimaryStatus: a.status, ShadowStatus: b.status,
		PrimaryHeaders: m.compared(a.header), ShadowHeaders: m.compared(b.header),
		DifferentHeaders:  m.differentHeaders(a.header, b.header),
		PrimaryBodySHA256: hex.EncodeToString(a.hash[:]), ShadowBodySHA256: hex.EncodeToString(b.hash[:]),
		PrimaryBody: string(a.prefix), ShadowBody: string(b.prefix),
	})
}

// compared is h without the headers the comparison leaves out.
func (m *Mirror) compared(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if !m.ignore[k] {
			out[k] = v
		}
	}
	return out
}

// differentHeaders names the compared headers whose values differ, sorted.
func (m *Mirror) differentHeaders(a, b http.Header) []string {
	var out []string
	for _, pair := range [2][2]http.Header{{a, b}, {b, a}} {
		for k, v := range pair[0] {
			if !m.ignore[k] && !slices.Equal(v, pair[1][k]) && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (m *Mirror) sameHeaders(a, b http.Header) bool {
	return len(m.differentHeaders(a, b)) == 0
}

// captureBody tees the primary's answer into its half of the pair while it
// streams to the client.
type captureBody struct {
	io.ReadCloser
	p      *Pair
	status int
	header http.Header
	max    int64
	n      int64
	hash   hashWriter
	prefix bytes.Buffer
	done   bool
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func Capture(resp *http.Response, p *Pair, max int64) io.ReadCloser {
	return &captureBody{ReadCloser: resp.Body, p: p, status: resp.StatusCode, header: resp.Header.Clone(), max: max, hash: sha256.New()}
}

func (c *captureBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	if n > 0 && c.n < c.max {
		take := min(int64(n), c.max-c.n)
		c.hash.Write(b[:take])
		(&prefixWriter{&c.prefix}).Write(b[:take])
		c.n += take
	}
	if err == io.EOF {
		c.finish()
	}
	return n, err
}

func (c *captureBody) Close() error {
	c.finish()
	return c.ReadCloser.Close()
}

func (c *captureBody) finish() {
	if c.done {
		return
	}
	c.done = true
	a := &shadowAnswer{status: c.status, header: c.header, prefix: c.prefix.Bytes()}
	copy(a.hash[:], c.hash.Sum(nil))
	c.p.set(true, a)
}

// Metrics are the series a mirror counts, registered by the gateway.
type Metrics struct {
	// Requests are copies answered, by route, backend and code.
	Requests *prometheus.CounterVec
	// Dropped are copies not sent, by route and reason.
	Dropped *prometheus.CounterVec
	// Diffs are comparisons, by route and kind.
	Diffs *prometheus.CounterVec
}

// MaxBody bounds what is compared of an answer.
func (m *Mirror) MaxBody() int64 { return m.maxBody }

// Compares reports whether the mirror compares the copy's answers with the
// primary's.
func (m *Mirror) Compares() bool { return m.compare != nil }

// PrimaryFailed records that the primary gave no answer to compare.
func (p *Pair) PrimaryFailed() { p.set(true, &shadowAnswer{failed: true}) }

// SetKeep sets how many differing pairs the log keeps.
func (l *DiffLog) SetKeep(n int) {
	l.mu.Lock()
	l.keep = n
	l.mu.Unlock()
}

// Diff is a mirrored request whose two answers differed.
type Diff struct {
	Time time.Time `json:"time"`
	// Kind is status, headers, body, or error when either side failed.
	Kind          string `json:"kind"`
	Method        string `json:"method"`
	Path          string `json:"path"`
	PrimaryStatus int    `json:"primaryStatus"`
	ShadowStatus  int    `json:"shadowStatus"`
	// The headers as compared (without those left out), and the names of
	// those that differ.
	PrimaryHeaders   http.Header `json:"primaryHeaders"`
	ShadowHeaders    http.Header `json:"shadowHeaders"`
	DifferentHeaders []string    `json:"differentHeaders,omitempty"`
	// SHA-256 of each whole body, as compared.
	PrimaryBodySHA256 string `json:"primaryBodySha256"`
	ShadowBodySHA256  string `json:"shadowBodySha256"`
	// The first bytes of each body.
	PrimaryBody string `json:"primaryBody"`
	ShadowBody  string `json:"shadowBody"`
}

// DiffLog keeps the last differing pairs of a route.
type DiffLog struct {
	mu   sync.Mutex // guards all
	keep int
	all  []Diff
}

func (l *DiffLog) add(d Diff) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d)
	if len(l.all) > l.keep {
		l.all = slices.Delete(l.all, 0, len(l.all)-l.keep)
	}
}

func (l *DiffLog) List() []Diff {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// HopByHop are the headers that concern one connection only (RFC 9110
// 7.6.1), as httputil.ReverseProxy removes them.
var HopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopByHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range HopByHop {
		h.Del(name)
	}
}
