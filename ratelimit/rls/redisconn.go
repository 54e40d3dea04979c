package rls

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cutover-dev/cutover/internal/tlsfiles"
)

// RedisConfig is how the service reaches a Redis: envoyproxy/ratelimit's
// REDIS_* settings (or REDIS_PERSECOND_* for the per-second one).
type RedisConfig struct {
	// Type is single, cluster or sentinel.
	Type string
	// Network is tcp or unix.
	Network string
	// Addrs are the server (single), the seed nodes (cluster) or the
	// sentinels; MasterName names a sentinel's master.
	Addrs      []string
	MasterName string
	// Auth is a password, or user:password for an ACL user, for the
	// servers; SentinelAuth the same for the sentinels.
	Auth, SentinelAuth string
	// TLS, with the CA (the system's when empty), a client certificate and
	// key, and, only when asked, no verification of the server.
	TLS                      bool
	TLSCert, TLSKey, TLSCA   string
	TLSSkipHostnameVerifying bool
	// Timeout bounds a dial, a read and a write.
	Timeout  time.Duration
	PoolSize int
}

func splitAuth(auth string) (user, pass string) {
	if u, p, ok := strings.Cut(auth, ":"); ok {
		return u, p
	}
	return "", auth
}

// Client connects as configured. One quick dial and no retries: a
// decision waits at most the timeout. RESP2: the service needs no push
// notifications, and go-redis looks for them before every RESP3 reply
// (3 % of the CPU).
func (c RedisConfig) Client() (redis.UniversalClient, error) {
	o := &redis.UniversalOptions{
		Addrs: c.Addrs, MasterName: c.MasterName,
		DialTimeout: c.Timeout, ReadTimeout: c.Timeout, WriteTimeout: c.Timeout,
		MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond, PoolSize: c.PoolSize, Protocol: 2,
	}
	o.Username, o.Password = splitAuth(c.Auth)
	o.SentinelUsername, o.SentinelPassword = splitAuth(c.SentinelAuth)
	if c.TLS {
		cfg, err := tlsfiles.Client(c.TLSCert, c.TLSKey, c.TLSCA, c.TLSSkipHostnameVerifying)
		if err != nil {
			return nil, fmt.Errorf("redis TLS: %w", err)
		}
		o.TLSConfig = cfg
	}
	switch c.Network {
	case "", "tcp":
	case "unix":
		d := &net.Dialer{Timeout: c.Timeout}
		tlsCfg := o.TLSConfig
		o.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "unix", addr)
			if err != nil || tlsCfg == nil {
				return conn, err
			}
			return tls.Client(conn, tlsCfg), nil
		}
	default:
		return nil, fmt.Errorf("redis socket type %q is not tcp or unix", c.Network)
	}
	switch strings.ToLower(c.Type) {
	case "", "single":
		if len(c.Addrs) != 1 {
			return nil, fmt.Errorf("a single Redis takes one address, not %d", len(c.Addrs))
		}
		return redis.NewClient(o.Simple()), nil
	case "cluster":
		return redis.NewClusterClient(o.Cluster()), nil
	case "sentinel":
		if c.MasterName == "" {
			return nil, fmt.Errorf("a sentinel Redis needs the master's name")
		}
		return redis.NewFailoverClient(o.Failover()), nil
	}
	return nil, fmt.Errorf("redis type %q is not single, cluster or sentinel", c.Type)
}
