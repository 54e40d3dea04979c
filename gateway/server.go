package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cutover-dev/cutover/spec"
)

type server struct {
	name  string
	admin bool
	http  *http.Server
	ln    net.Listener
	tls   *spec.TLS
	// fast serves a cleartext listener; http then serves the connections
	// it hands over.
	fast *fastServer
	// fresh are the connections that have not sent a byte yet, with when
	// they were accepted.
	fresh sync.Map // net.Conn -> time.Time
}

// track is the server's ConnState hook.
func (s *server) track(c net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.fresh.Store(c, time.Now())
	} else {
		s.fresh.Delete(c)
	}
}

// trackFast is the fast server's ConnState hook.
func (s *server) trackFast(c net.Conn, st fasthttp.ConnState) {
	if st == fasthttp.StateNew {
		s.fresh.Store(c, time.Now())
	} else {
		s.fresh.Delete(c)
	}
}

// closeSilent closes the connections that have sent nothing for at least
// grace. net/http's Shutdown waits 5 s for such a connection, one a client
// opened in a race and keeps unused, say; it holds no request to lose.
func (s *server) closeSilent(grace time.Duration) {
	now := time.Now()
	s.fresh.Range(func(k, v any) bool {
		if now.Sub(v.(time.Time)) >= grace {
			k.(net.Conn).Close()
		}
		return true
	})
}

func (s *server) serve() error {
	var err error
	if s.fast != nil {
		go s.http.Serve(s.fast.handover)
		err = s.fast.srv.Serve(s.ln)
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	} else if s.tls != nil {
		err = s.http.ServeTLS(s.ln, s.tls.CertFile, s.tls.KeyFile)
	} else {
		err = s.http.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("listener %s: %w", s.name, err)
}

// listen opens every listener and the admin listener, or none.
func (g *Gateway) listen(s spec.GatewaySpec, admin http.Handler) ([]*server, error) {
	var out []*server
	errLog := slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)
	for _, l := range s.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			g.closeAll(out)
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		srv := &server{name: l.Name, ln: ln, tls: l.TLS}
		if l.Server == spec.ServerFast {
			srv.fast = g.newFastServer(s.Limits, srv.trackFast)
		}
		srv.http = &http.Server{
			ConnState:         srv.track,
			Handler:           g.proxy,
			MaxHeaderBytes:    s.Limits.MaxHeaderBytes,
			ReadHeaderTimeout: s.Limits.ReadHeaderTimeout.D(),
			ReadTimeout:       s.Limits.ReadTimeout.D(),
			WriteTimeout:      s.Limits.WriteTimeout.D(),
			IdleTimeout:       s.Limits.IdleTimeout.D(),
			ErrorLog:          errLog,
		}
		out = append(out, srv)
		g.log.Info("listening", "listener", l.Name, "address", ln.Addr().String(), "tls", l.TLS != nil, "server", l.Server)
	}
	ln, err := net.Listen("tcp", s.Admin.Address)
	if err != nil {
		g.closeAll(out)
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	out = append(out, &server{name: "admin", admin: true, ln: ln, http: &http.Server{
		Handler:           admin,
		MaxHeaderBytes:    64 << 10,
		ReadHeaderTimeout: s.Limits.ReadHeaderTimeout.D(),
		IdleTimeout:       s.Limits.IdleTimeout.D(),
		ErrorLog:          errLog,
	}})
	g.log.Info("admin API listening", "address", ln.Addr().String())
	if c := s.Chat; c != nil && c.Slack.Address != "" && g.Chat != nil {
		ln, err := net.Listen("tcp", c.Slack.Address)
		if err != nil {
			g.closeAll(out)
			return nil, fmt.Errorf("chat listener: %w", err)
		}
		// Like the admin API, it closes after the traffic listeners.
		out = append(out, &server{name: "chat", admin: true, ln: ln, http: &http.Server{
			Handler:           g.Chat,
			MaxHeaderBytes:    64 << 10,
			ReadHeaderTimeout: s.Limits.ReadHeaderTimeout.D(),
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       s.Limits.IdleTimeout.D(),
			ErrorLog:          errLog,
		}})
		g.log.Info("chat commands listening", "address", ln.Addr().String())
	}
	return out, nil
}

func (g *Gateway) closeAll(servers []*server) {
	for _, s := range servers {
		s.ln.Close()
		s.http.Close()
		if s.fast != nil {
			s.fast.handover.Close()
		}
	}
}

// drain asks clients to close their connections after their answers.
func (s *server) drain() {
	s.http.SetKeepAlivesEnabled(false)
	if s.fast != nil {
		s.fast.draining.Store(true)
	}
}

// shutdown closes the listener and waits for the requests in flight.
func (s *server) shutdown(ctx context.Context) error {
	var err error
	if s.fast != nil {
		err = s.fast.srv.ShutdownWithContext(ctx)
		s.fast.handover.Close()
	}
	return errors.Join(err, s.http.Shutdown(ctx))
}

// newFastServer is a cleartext listener's fast server, with the limits
// and timeouts of net/http's.
func (g *Gateway) newFastServer(l spec.Limits, track func(net.Conn, fasthttp.ConnState)) *fastServer {
	f := &fastServer{h: g.proxy, handover: newHandover()}
	bodyTimeout := fasthttp.RequestConfig{ReadTimeout: l.ReadTimeout.D()}
	if bodyTimeout.ReadTimeout <= 0 {
		// None, as on net/http; fasthttp would keep the head's deadline.
		bodyTimeout.ReadTimeout = 24 * time.Hour
	}
	f.srv = &fasthttp.Server{
		Handler:   f.serve,
		ConnState: track,
		// The head within readHeaderTimeout, the body within readTimeout.
		// A request without a body reads nothing more from the client
		// before its answer, so its deadline is left as it is: moving it
		// costs a timer update per request. (A request handed over to
		// net/http gets that server's deadlines.)
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if n := h.ContentLength(); n == 0 || n == -2 { // -2: no length and not chunked
				return fasthttp.RequestConfig{}
			}
			return bodyTimeout
		},
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// A request's head must fit in the read buffer.
		ReadBufferSize: l.MaxHeaderBytes + 4096,
		ReadTimeout:    l.ReadHeaderTimeout.D(),
		WriteTimeout:   l.WriteTimeout.D(),
		IdleTimeout:    l.IdleTimeout.D(),
		// One byte of the body is read before the handler runs; the handler
		// reads the rest, so that a body that fails is the client's fault
		// in the handler's logs and metrics, as on net/http.
		MaxRequestBodySize:           1,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	return f
}
