package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// FastClient is the HTTP/1.1 leg of the fast server (cleartext listeners):
// the client's fasthttp request is written as it is onto a keep-alive
// connection of the backend's h1Transport, and the answer read into the
// client's fasthttp response, with no copy of either in between.
type FastClient struct{ t *h1Transport }

// Fast is the backend's client for the fast server, or nil when the backend
// asked for the standard client.
func (b *Backend) Fast() *FastClient {
	if t, ok := b.Transport.(*h1Transport); ok && !t.fallbackAll {
		return &t.fast
	}
	return nil
}

// FastOnly reports whether every request to the backend can go through its
// fast client: it has one, and only cleartext endpoints.
func (b *Backend) FastOnly() bool {
	if b.Fast() == nil {
		return false
	}
	for _, e := range b.Endpoints {
		if e.URL.Scheme != "http" {
			return false
		}
	}
	return true
}

// SetDial makes the backend's fast client connect with dial: a benchmark
// of the gateway's own cost keeps sockets out with it.
func (b *Backend) SetDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	if t, ok := b.Transport.(*h1Transport); ok {
		t.dial = dial
	}
}

// FastBody is an answer's body still on the connection. The server reads it
// as it writes it to the client; at its end the connection goes back to the
// idle list.
type FastBody struct {
	c      *h1Conn
	t      *h1Transport
	r      io.Reader
	resp   *fasthttp.Response
	keep   bool
	chunks bool
	// N counts the bytes read, for the access log.
	N int64
	// Done is told how the body ended: whole, or cut (by the upstream, or by
	// the client going away when the server's write failed).
	Done     func(whole bool, err error)
	finished bool
}

// Read reads the body off the connection; at the end of a chunked body its
// trailers become the response's.
func (b *FastBody) Read(p []byte) (int, error) {
	if b.finished {
		return 0, io.EOF // the reader may be asked again after its end
	}
	n, err := b.r.Read(p)
	b.N += int64(n)
	if err == io.EOF && b.chunks {
		if terr := b.resp.Header.ReadTrailer(b.c.br); terr != nil && terr != io.EOF {
			err = terr
		}
	}
	if err == io.EOF {
		b.end(true, nil)
	} else if err != nil {
		b.end(false, err)
	}
	return n, err
}

// Close is called once the server is done with the body: before its end,
// the connection is given up.
func (b *FastBody) Close() error {
	b.end(false, nil)
	return nil
}

func (b *FastBody) end(whole bool, err error) {
	if b.finished {
		return
	}
	b.finished = true
	b.t.fast.release(b.c, whole && b.keep)
	if b.Done != nil {
		b.Done(whole, err)
	}
}

// release puts a connection whose answer was read whole back on the idle
// list when it can take another request, else closes it.
func (c *FastClient) release(conn *h1Conn, keep bool) {
	// Its deadline stays: whoever takes it next sets its own before use.
	if keep && conn.br.Buffered() == 0 {
		c.t.put(conn)
		return
	}
	conn.Close()
}

// ErrFastHeadTimeout is a try whose answer's head did not come before its
// per-try deadline.
var ErrFastHeadTimeout = errors.New("upstream per-try timeout")

// smallBody is the largest body read whole before the client is answered:
// its connection goes back to the idle list at once.
const smallBody = 16 << 10

// Do writes req to e and reads the answer's head into resp. A small body
// is read too (the returned body is nil); a larger or unframed one is left
// on the connection as the returned FastBody, which the caller sets as
// resp's body stream. headBy bounds the wait for the head (ErrFastHeadTimeout
// past it), until bounds the whole exchange (a read past it times out), zero
// when unbounded. replayable says whether the request may be sent again on a
// new connection when a pooled one turns out closed before any answer.
func (c *FastClient) Do(req *fasthttp.Request, resp *fasthttp.Response, e *Endpoint, headBy, until time.Time, replayable bool) (*FastBody, error) {
	addr := canonicalAddr(e.URL.Host)
	for {
		conn, reused, err := c.t.conn(context.Background(), addr)
		if err != nil {
			return nil, err
		}
		body, answered, err := c.exchange(req, resp, conn, headBy, until)
		if err == nil {
			return body, nil
		}
		conn.Close()
		if reused && !answered && replayable && time.Now().Before(headBy) {
			continue
		}
		return nil, err
	}
}

func (c *FastClient) exchange(req *fasthttp.Request, resp *fasthttp.Response, conn *h1Conn, headBy, until time.Time) (*FastBody, bool, error) {
	conn.SetDeadline(headBy)
	if err := req.Write(conn.bw); err != nil {
		return nil, false, headErr(err)
	}
	if err := conn.bw.Flush(); err != nil {
		return nil, false, headErr(err)
	}
	for {
		conn.head.n = maxResponseHeaderBytes
		if _, err := conn.br.Peek(1); err != nil {
			return nil, false, headErr(err)
		}
		resp.Header.SetNoDefaultContentType(true)
		err := resp.Header.Read(conn.br)
		if err != nil && isSmallBuffer(err) {
			// A head larger than the read buffer: net/http's reader takes it,
			// up to the same limit as on the standard client.
			err = readLargeHead(conn.br, resp)
		}
		if err != nil {
			return nil, true, headErr(err)
		}
		if code := resp.StatusCode(); code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
		// An informational answer (100 Continue, 103 Early Hints): the real
		// one follows.
		resp.Header.Reset()
	}
	conn.head.n = -1
	// The rest of the answer may take until the route's timeout; a deadline
	// costs a timer update, so it is moved only when more is to be read.
	keep := !resp.Header.ConnectionClose() && !req.Header.ConnectionClose()
	resp.Header.ResetConnectionClose()
	n := resp.Header.ContentLength()
	code := resp.StatusCode()
	if req.Header.IsHead() || code == http.StatusNoContent || code == http.StatusNotModified || code == http.StatusSwitchingProtocols {
		if n < 0 {
			resp.Header.SetContentLength(0)
		}
		resp.SkipBody = true
		c.release(conn, keep)
		return nil, true, nil
	}
	if n >= 0 && n <= smallBody && n <= conn.br.Size() {
		if conn.br.Buffered() < n {
			conn.SetDeadline(until)
		}
		body, err := conn.br.Peek(n)
		if err != nil {
			conn.Close()
			return nil, true, err
		}
		resp.SetBody(body)
		conn.br.Discard(n)
		c.release(conn, keep)
		return nil, true, nil
	}
	conn.SetDeadline(until)
	b := &FastBody{c: conn, t: c.t, resp: resp, keep: keep}
	switch {
	case n >= 0:
		b.r = io.LimitReader(conn.br, int64(n))
	case n == -1:
		b.r, b.chunks = httputil.NewChunkedReader(conn.br), true
	default:
		// Neither a length nor chunks: the body ends when the upstream
		// closes, and the connection with it.
		b.r, b.keep = conn.br, false
		resp.Header.SetContentLength(-1)
	}
	return b, true, nil
}

func isSmallBuffer(err error) bool {
	var small *fasthttp.ErrSmallBuffer
	return errors.As(err, &small)
}

// headErr names a deadline passed before the answer's head as the per-try
// timeout; the caller knows whether it was the route's.
func headErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) {
		return ErrFastHeadTimeout
	}
	return err
}

// readLargeHead reads a head bigger than br's buffer with net/http's
// reader and copies it into resp.
func readLargeHead(br *bufio.Reader, resp *fasthttp.Response) error {
	hr, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	resp.Header.Reset()
	resp.Header.SetNoDefaultContentType(true)
	resp.SetStatusCode(hr.StatusCode)
	for k, vs := range hr.Header {
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
	switch {
	case hr.ContentLength >= 0:
		resp.Header.SetContentLength(int(hr.ContentLength))
	case len(hr.TransferEncoding) > 0:
		resp.Header.SetContentLength(-1)
	default:
		resp.Header.SetContentLength(-2)
	}
	if hr.Close {
		resp.Header.SetConnectionClose()
	}
	// http.ReadResponse read the head only; the body is still on br.
	return nil
}
