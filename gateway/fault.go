package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"

	"github.com/cutover-dev/cutover/gateway/upstream"
)

// clientBody is the client's request body as the upstream reads it. It
// keeps the first error reading it, so that an exchange that failed because
// of the client (a malformed chunk, a body that stopped coming, a client
// that left) is answered as the client's fault and never counted against
// the upstream. The transport reads it on its own goroutine.
type clientBody struct {
	io.ReadCloser
	n   atomic.Int64
	err atomic.Pointer[error]
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// failure is the error reading the client's body, or nil.
func (b *clientBody) failure() error {
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}

// clientFault maps an error reading the client's body to the status nginx
// gives it and a kind for the metrics and the gateway's reason header.
func clientFault(err error) (code int, kind string) {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, ReasonBodyTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusRequestTimeout, ReasonClientBodyTimeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		return 499, ReasonClientGone
	}
	return http.StatusBadRequest, ReasonMalformedBody
}

// Reasons of the client's faults.
const (
	ReasonMalformedBody     = "malformed-request-body"
	ReasonClientBodyTimeout = "client-body-timeout"
	ReasonClientGone        = "client-gone"
)

// upstreamBody is the upstream's response body on its way to the client.
// It tells passive ejection how the answer ended: whole, or cut by a reset
// or a timeout half-way, which is the upstream's failure unless the client
// left first.
type upstreamBody struct {
	io.ReadCloser
	pool *upstream.Pool
	x    *exchange // its backend and endpoint are the ones that answered
	done bool      // the outcome was counted
}

func (b *upstreamBody) observe(o upstream.Outcome) {
	b.pool.Observe(b.x.route.backends[b.x.backend], b.x.endpoint, o)
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		switch {
		case err == io.EOF:
			b.observe(upstream.OutcomeOK)
		case b.x.clientCtx.Err() != nil:
			b.x.fault = "client"
		default:
			b.x.fault = "upstream"
			b.observe(upstream.OutcomeLocal)
		}
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if !b.done {
		// Closed before its end without an error: the client left, or
		// nothing more was read (HEAD, 304). The upstream did its part.
		b.done = true
		b.observe(upstream.OutcomeOK)
	}
	return b.ReadCloser.Close()
}
