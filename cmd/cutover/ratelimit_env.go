package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// peerEnvFlags maps envoyproxy/ratelimit's environment variables to the
// flags that mean the same.
var peerEnvFlags = []struct{ env, flag string }{
	{"REDIS_SOCKET_TYPE", "redis-socket-type"},
	{"REDIS_TYPE", "redis-type"},
	{"REDIS_AUTH", "redis-auth"},
	{"REDIS_SENTINEL_AUTH", "redis-sentinel-auth"},
	{"REDIS_TLS", "redis-tls"},
	{"REDIS_TLS_CLIENT_CERT", "redis-tls-cert"},
	{"REDIS_TLS_CLIENT_KEY", "redis-tls-key"},
	{"REDIS_TLS_CACERT", "redis-tls-ca"},
	{"REDIS_TLS_SKIP_HOSTNAME_VERIFICATION", "redis-tls-skip-verify"},
	{"REDIS_POOL_SIZE", "redis-pool-size"},
	{"REDIS_TIMEOUT", "redis-timeout"},
	{"REDIS_PIPELINE_WINDOW", "redis-pipeline-window"},
	{"REDIS_PIPELINE_LIMIT", "redis-pipeline-limit"},
	{"REDIS_PERSECOND", "redis-per-second"},
	{"REDIS_PERSECOND_SOCKET_TYPE", "redis-per-second-socket-type"},
	{"REDIS_PERSECOND_TYPE", "redis-per-second-type"},
	{"REDIS_PERSECOND_AUTH", "redis-per-second-auth"},
	{"REDIS_PERSECOND_SENTINEL_AUTH", "redis-per-second-sentinel-auth"},
	{"REDIS_PERSECOND_TLS", "redis-per-second-tls"},
	{"REDIS_PERSECOND_POOL_SIZE", "redis-per-second-pool-size"},
	{"REDIS_PERSECOND_TIMEOUT", "redis-per-second-timeout"},
	{"REDIS_PERSECOND_PIPELINE_WINDOW", "redis-per-second-pipeline-window"},
	{"REDIS_PERSECOND_PIPELINE_LIMIT", "redis-per-second-pipeline-limit"},
	{"LIMIT_RESPONSE_HEADERS_ENABLED", "headers"},
	{"LIMIT_LIMIT_HEADER", "header-limit"},
	{"LIMIT_REMAINING_HEADER", "header-remaining"},
	{"LIMIT_RESET_HEADER", "header-reset"},
	{"LOCAL_CACHE_SIZE_IN_BYTES", "local-cache-size"},
	{"NEAR_LIMIT_RATIO", "near-limit-ratio"},
	{"CACHE_KEY_PREFIX", "cache-key-prefix"},
	{"SHADOW_MODE", "shadow-mode"},
	{"QUOTA_MODE", "quota-mode"},
	{"RESPONSE_DYNAMIC_METADATA", "dynamic-metadata"},
	{"MERGE_DOMAIN_CONFIG", "merge-domain-config"},
	{"LOG_FORMAT", "log-format"},
}

// peerUnsupported are settings of envoyproxy/ratelimit that cutover does
// not implement, with the value that leaves them off.
var peerUnsupported = []struct{ env, off string }{
	{"BACKEND_TYPE", "redis"},
	{"CONFIG_TYPE", "FILE"},
	{"MEMCACHE_HOST_PORT", ""},
	{"MEMCACHE_SRV", ""},
	{"USE_STATSD", "false"},
	{"USE_DOG_STATSD", "false"},
	{"TRACING_ENABLED", "false"},
	{"GRPC_UDS", ""},
	{"FORCE_START_WITHOUT_INITIAL_CONFIG", "false"},
	// A counter over its own limit is never raised here; stopping the
	// other descriptors' counters of a request as well is not implemented.
	{"STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT", "false"},
}

// applyPeerEnv sets, from envoyproxy/ratelimit's environment variables,
// every flag the command line did not give, with the peer's defaults for
// the parts of a setting the environment leaves out, so that a Deployment
// written for the peer runs with only the image changed.
func applyPeerEnv(f, global *pflag.FlagSet, lookup func(string) (string, bool)) error {
	set := func(fs *pflag.FlagSet, flag, env, value string) error {
		if fs.Changed(flag) {
			return nil
		}
		if err := fs.Set(flag, value); err != nil {
			return fmt.Errorf("$%s: %w", env, err)
		}
		return nil
	}
	for _, u := range peerUnsupported {
		if v, ok := lookup(u.env); ok && !strings.EqualFold(v, u.off) && !(u.off == "false" && isFalse(v)) {
			return fmt.Errorf("$%s=%s: cutover ratelimit serve does not implement this envoyproxy/ratelimit setting (unset it, or set %q)", u.env, v, u.off)
		}
	}
	for _, m := range peerEnvFlags {
		v, ok := lookup(m.env)
		if !ok || m.env == "REDIS_PIPELINE_LIMIT" && v == "0" || m.env == "REDIS_PERSECOND_PIPELINE_LIMIT" && v == "0" {
			continue // 0: no effect in the peer either
		}
		fs := f
		if m.flag == "log-format" {
			fs = global
		}
		if strings.HasSuffix(m.flag, "type") {
			v = strings.ToLower(v)
		}
		if err := set(fs, m.flag, m.env, v); err != nil {
			return err
		}
	}
	if v, ok := lookup("LOG_LEVEL"); ok {
		level := map[string]string{"trace": "debug", "debug": "debug", "info": "info", "warn": "warn", "warning": "warn", "error": "error", "fatal": "error", "panic": "error"}[strings.ToLower(v)]
		if level == "" {
			return fmt.Errorf("$LOG_LEVEL: %q is not trace, debug, info, warn, error, fatal or panic", v)
		}
		if err := set(global, "log-level", "LOG_LEVEL", level); err != nil {
			return err
		}
	}
	// Socket and server type default as in the peer: a unix socket, a
	// single Redis.
	for _, r := range []struct{ prefix, addrFlag, sentinelFlag, typeEnv, socketEnv, socketFlag string }{
		{"REDIS_", "redis", "redis-sentinel", "REDIS_TYPE", "REDIS_SOCKET_TYPE", "redis-socket-type"},
		{"REDIS_PERSECOND_", "redis-per-second-addr", "redis-per-second-sentinel", "REDIS_PERSECOND_TYPE", "REDIS_PERSECOND_SOCKET_TYPE", "redis-per-second-socket-type"},
	} {
		url, ok := lookup(r.prefix + "URL")
		if !ok || f.Changed(r.addrFlag) || f.Changed(r.sentinelFlag) {
			continue // the command line names this Redis itself
		}
		if _, given := lookup(r.socketEnv); !given {
			if err := set(f, r.socketFlag, r.socketEnv, "unix"); err != nil {
				return err
			}
		}
		typ, _ := lookup(r.typeEnv)
		if strings.EqualFold(typ, "sentinel") {
			master, sentinels, _ := strings.Cut(url, ",")
			if sentinels == "" {
				return fmt.Errorf("$%sURL: %q: want <master name>,<sentinel>[,<sentinel>...]", r.prefix, url)
			}
			if err := set(f, r.sentinelFlag, r.prefix+"URL", master+"@"+sentinels); err != nil {
				return err
			}
			continue
		}
		if err := set(f, r.addrFlag, r.prefix+"URL", url); err != nil {
			return err
		}
	}
	// Listeners: the peer's defaults are every interface and 8081, 8080,
	// 6070; the variables mean a Deployment, where loopback would be unreachable.
	for _, l := range []struct{ hostEnv, portEnv, flag, port string }{
		{"GRPC_HOST", "GRPC_PORT", "grpc", "8081"},
		{"HOST", "PORT", "http", "8080"},
		{"DEBUG_HOST", "DEBUG_PORT", "debug", "6070"},
	} {
		host, hostSet := lookup(l.hostEnv)
		port, portSet := lookup(l.portEnv)
		if !hostSet && !portSet {
			continue
		}
		if !hostSet {
			host = "0.0.0.0"
		}
		if !portSet {
			port = l.port
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("$%s: %q is not a port", l.portEnv, port)
		}
		if err := set(f, l.flag, l.portEnv, net.JoinHostPort(host, port)); err != nil {
			return err
		}
	}
	if v, ok := lookup("USE_PROMETHEUS"); ok && !isFalse(v) {
		addr, ok := lookup("PROMETHEUS_ADDR")
		if !ok {
			addr = ":9090"
		}
		if err := set(f, "metrics", "PROMETHEUS_ADDR", addr); err != nil {
			return err
		}
		if p, ok := lookup("PROMETHEUS_PATH"); ok {
			if err := set(f, "metrics-path", "PROMETHEUS_PATH", p); err != nil {
				return err
			}
		}
	}
	if v, ok := lookup("GRPC_SERVER_USE_TLS"); ok && !isFalse(v) {
		for _, m := range []struct{ env, flag string }{
			{"GRPC_SERVER_TLS_CERT", "grpc-tls-cert"}, {"GRPC_SERVER_TLS_KEY", "grpc-tls-key"},
			{"GRPC_CLIENT_TLS_CACERT", "grpc-client-ca"}, {"GRPC_CLIENT_TLS_SAN", "grpc-client-san"},
		} {
			if v, ok := lookup(m.env); ok && v != "" {
				if err := set(f, m.flag, m.env, v); err != nil {
					return err
				}
			}
		}
	}
	// The configuration directory: RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/
	// RUNTIME_APPDIRECTORY. Changes are picked up whether the files or a
	// symlink above them are replaced, so RUNTIME_WATCH_ROOT needs nothing.
	root, rootSet := lookup("RUNTIME_ROOT")
	sub, subSet := lookup("RUNTIME_SUBDIRECTORY")
	app, appSet := lookup("RUNTIME_APPDIRECTORY")
	if rootSet || subSet || appSet {
		if !rootSet {
			root = "/srv/runtime_data/current"
		}
		if !appSet {
			app = "config"
		}
		if err := set(f, "config-dir", "RUNTIME_ROOT", filepath.Join(root, sub, app)); err != nil {
			return err
		}
	}
	return nil
}

func isFalse(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && !b
}
