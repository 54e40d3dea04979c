package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/cutover-dev/cutover/spec"
)

type server struct {
	name  string
	admin bool
	http  *http.Server
	ln    net.Listener
	tls   *spec.TLS
}

func (s *server) serve() error {
	var err error
	if s.tls != nil {
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
		out = append(out, &server{name: l.Name, ln: ln, tls: l.TLS, http: &http.Server{
			Handler:           g.proxy,
			MaxHeaderBytes:    s.Limits.MaxHeaderBytes,
			ReadHeaderTimeout: s.Limits.ReadHeaderTimeout.D(),
			ReadTimeout:       s.Limits.ReadTimeout.D(),
			WriteTimeout:      s.Limits.WriteTimeout.D(),
			IdleTimeout:       s.Limits.IdleTimeout.D(),
			ErrorLog:          errLog,
		}})
		g.log.Info("listening", "listener", l.Name, "address", ln.Addr().String(), "tls", l.TLS != nil)
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
	return out, nil
}

func (g *Gateway) closeAll(servers []*server) {
	for _, s := range servers {
		s.ln.Close()
		s.http.Close()
	}
}
