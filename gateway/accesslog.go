package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/accesslog"
	"github.com/cutover-dev/cutover/spec"
)

// accessLog formats one JSON object per request for the sinks.
type accessLog struct {
	logger  *accesslog.Logger
	headers []string // canonical names
	cookies []spec.LogCookie
	trusted func() trustedProxies
}

func newAccessLog(cfg *spec.AccessLog, trusted func() trustedProxies, m *Metrics, onError func(string, error)) (*accessLog, error) {
	var sinks []accesslog.Sink
	for _, s := range cfg.Sinks {
		switch {
		case s.Stdout:
			sinks = append(sinks, accesslog.NewWriter("stdout", os.Stdout))
		case s.File != nil:
			loc := time.UTC
			if s.File.TimeZone != "" {
				var err error
				if loc, err = time.LoadLocation(s.File.TimeZone); err != nil {
					return nil, err
				}
			}
			sinks = append(sinks, accesslog.NewFile(s.File.Path, loc))
		case s.Syslog != nil:
			sinks = append(sinks, accesslog.NewSyslog(s.Syslog.Socket, s.Syslog.Tag, *s.Syslog.Facility))
		}
	}
	l := &accessLog{logger: accesslog.New(cfg.BufferLines, sinks...), cookies: cfg.Cookies, trusted: trusted}
	l.logger.OnError = onError
	for _, h := range cfg.Headers {
		l.headers = append(l.headers, http.CanonicalHeaderKey(h))
	}
	for i, s := range sinks {
		i := i
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "cutover_accesslog_dropped_total",
			Help:        "Access-log lines dropped because a sink was slower than the traffic.",
			ConstLabels: prometheus.Labels{"sink": s.Name()},
		}, func() float64 { return float64(l.logger.Stats()[i].Dropped) }))
	}
	return l, nil
}

// loggedWriter notes the status and size of an answer.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *loggedWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequest writes the request's line; status 0 means no answer was sent.
func (h *proxyHandler) logRequest(r inbound, status int, bytesOut int64, x *exchange, start time.Time) {
	l := h.log
	now := time.Now()
	buf := make([]byte, 0, 512)
	buf = append(buf, `{"time":`...)
	buf = append(buf, '"')
	buf = now.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
	buf = append(buf, '"')
	buf = appendField(buf, "request_id", r.Header("X-Request-Id"))
	buf = appendField(buf, "client_ip", x.clientIP(r, l.trusted()))
	buf = appendField(buf, "method", r.Method())
	buf = appendField(buf, "host", r.Host())
	buf = appendField(buf, "path", r.Path())
	buf = appendField(buf, "query", r.RawQuery())
	buf = appendField(buf, "protocol", r.Proto())
	if status == 0 {
		status = 499 // the client left before an answer
	}
	buf = append(buf, `,"status":`...)
	buf = strconv.AppendInt(buf, int64(status), 10)
	buf = append(buf, `,"bytes_in":`...)
	buf = strconv.AppendInt(buf, x.body.n.Load(), 10)
	buf = append(buf, `,"bytes_out":`...)
	buf = strconv.AppendInt(buf, bytesOut, 10)
	buf = append(buf, `,"duration_ms":`...)
	buf = strconv.AppendFloat(buf, float64(now.Sub(start).Microseconds())/1000, 'f', 3, 64)
	buf = append(buf, `,"upstream_duration_ms":`...)
	buf = strconv.AppendFloat(buf, float64(x.upstreamTime.Microseconds())/1000, 'f', 3, 64)
	route, backend, version, endpoint := "", "", "", ""
	if x.route != nil {
		route = x.route.name
		if x.backend >= 0 {
			backend, version = x.route.backends[x.backend].Name, x.route.backends[x.backend].Version
		}
	}
	if x.endpoint != nil {
		endpoint = x.endpoint.Addr
	}
	buf = appendField(buf, "route", route)
	buf = appendField(buf, "backend", backend)
	buf = appendField(buf, "version", version)
	buf = appendField(buf, "endpoint", endpoint)
	buf = append(buf, `,"mirror":`...)
	buf = strconv.AppendBool(buf, x.mirrored)
	buf = appendField(buf, "ratelimit", x.limitResult)
	buf = append(buf, `,"retries":`...)
	buf = strconv.AppendInt(buf, int64(x.retries), 10)
	// Which side failed the exchange, and the gateway's own reason.
	buf = appendField(buf, "fault", x.fault)
	buf = appendField(buf, "reason", x.reason)
	buf = appendField(buf, "user_agent", r.Header("User-Agent"))
	buf = appendField(buf, "referer", r.Header("Referer"))
	if len(l.headers) > 0 {
		buf = append(buf, `,"headers":{`...)
		for i, name := range l.headers {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, name)
			buf = append(buf, ':')
			buf = appendJSONString(buf, r.Header(name))
		}
		buf = append(buf, '}')
	}
	if len(l.cookies) > 0 {
		buf = append(buf, `,"cookies":{`...)
		for i, c := range l.cookies {
			if i > 0 {
				buf = append(buf, ',')
			}
			v := ""
			if ck, ok := r.Cookie(c.Name); ok {
				v = ck
				if c.Hash {
					sum := sha256.Sum256([]byte(v))
					v = "sha256:" + hex.EncodeToString(sum[:])
				}
			}
			buf = appendJSONString(buf, c.Name)
			buf = append(buf, ':')
			buf = appendJSONString(buf, v)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, '}')
	l.logger.Log(accesslog.Line{At: now, Data: buf})
}

func appendField(buf []byte, name, value string) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, '"', ':')
	return appendJSONString(buf, value)
}

// appendJSONString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c < 0x20:
				buf = fmt.Appendf(buf, `\u%04x`, c)
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
