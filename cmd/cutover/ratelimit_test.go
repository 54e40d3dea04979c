package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/internal/tlsfiles"
)

// Bad tuning flags of the rate-limit service are refused by name before
// anything starts.
func TestRateLimitServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct{ flag, want string }{
		{"--grpc-stream-workers=-1", "--grpc-stream-workers: -1 is below 0"},
		{"--redis-pipeline-limit=0", "--redis-pipeline-limit: 0 is below 1"},
		{"--redis-pipeline-window=-1ms", "--redis-pipeline-window: -1ms is below 0"},
		{"--failure-mode=maybe", `--failure-mode: "maybe" is not allow or deny`},
	} {
		out, code := run(t, t.TempDir(), "ratelimit", "serve", "--config-dir", t.TempDir(), tc.flag)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d\n%s", tc.flag, code, out)
		}
	}
}

// A Deployment written for envoyproxy/ratelimit runs unchanged: its
// environment alone gives the config directory, an ACL user and TLS to
// Redis, and mutual TLS on gRPC.
func TestRateLimitServeFromPeerEnvironment(t *testing.T) {
	ca := testenv.NewCA(t, "ca")
	redisCert, redisKey := ca.Issue("redis")
	r := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "nobody", Users: []string{"rl on >s3cret ~* &* +@all"}, TLSCert: redisCert, TLSKey: redisKey, CA: ca.File})
	root := t.TempDir()
	cfgDir := filepath.Join(root, "ratelimit", "config")
	os.MkdirAll(cfgDir, 0o755)
	os.WriteFile(filepath.Join(cfgDir, "d.yaml"), []byte("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 2}\n"), 0o600)
	grpcCert, grpcKey := ca.Issue("rls")
	grpcAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	_, grpcPort, _ := net.SplitHostPort(grpcAddr)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	env := []string{
		"RUNTIME_ROOT=" + root, "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_WATCH_ROOT=false",
		"REDIS_SOCKET_TYPE=tcp", "REDIS_TYPE=SINGLE", "REDIS_URL=" + r.Addr, "REDIS_AUTH=rl:s3cret",
		"REDIS_TLS=true", "REDIS_TLS_CACERT=" + ca.File,
		"GRPC_HOST=127.0.0.1", "GRPC_PORT=" + grpcPort, "HOST=127.0.0.1", "PORT=" + httpPort,
		"GRPC_SERVER_USE_TLS=true", "GRPC_SERVER_TLS_CERT=" + grpcCert, "GRPC_SERVER_TLS_KEY=" + grpcKey,
		"GRPC_CLIENT_TLS_CACERT=" + ca.File, "GRPC_CLIENT_TLS_SAN=envoy",
		"LIMIT_RESPONSE_HEADERS_ENABLED=true", "LOG_LEVEL=WARN", "USE_STATSD=false",
	}
	cmd := exec.Command(binary, "ratelimit", "serve")
	cmd.Env = append(os.Environ(), env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready at $HOST:$PORT\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	envoyCert, envoyKey := ca.Issue("envoy")
	tlsCfg, _ := tlsfiles.Client(envoyCert, envoyKey, ca.File, false)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := rlsv3.NewRateLimitServiceClient(conn)
	var codes []string
	for range 3 {
		resp, err := client.ShouldRateLimit(context.Background(), &rlsv3.RateLimitRequest{Domain: "d", Descriptors: []*rlcommon.RateLimitDescriptor{{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "k", Value: "v"}}}}})
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if len(resp.ResponseHeadersToAdd) != 3 {
			t.Fatalf("LIMIT_RESPONSE_HEADERS_ENABLED: headers %v", resp.ResponseHeadersToAdd)
		}
		codes = append(codes, resp.OverallCode.String())
	}
	if fmt.Sprint(codes) != "[OK OK OVER_LIMIT]" {
		t.Fatalf("answers %v over a limit of 2", codes)
	}
}

// The peer's settings for what cutover does not implement are refused by
// name, and a bad value names its variable.
func TestRateLimitServeRefusesUnsupportedPeerSettings(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"BACKEND_TYPE=memcache", "$BACKEND_TYPE=memcache: cutover ratelimit serve does not implement"},
		{"USE_STATSD=true", "$USE_STATSD=true"},
		{"CONFIG_TYPE=GRPC_XDS_SOTW", "$CONFIG_TYPE=GRPC_XDS_SOTW"},
		{"REDIS_POOL_SIZE=many", "$REDIS_POOL_SIZE: "},
		{"LOG_LEVEL=loud", `$LOG_LEVEL: "loud" is not`},
		{"REDIS_TYPE=SENTINEL", ""},
	} {
		cmd := exec.Command(binary, "ratelimit", "serve", "--config-dir", t.TempDir())
		cmd.Env = append(os.Environ(), tc.env)
		if tc.want == "" {
			cmd.Env = append(cmd.Env, "REDIS_URL=only-a-name")
			tc.want = `$REDIS_URL: "only-a-name": want <master name>,<sentinel>`
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: %v\n%s", tc.env, err, out)
		}
	}
}

// A Redis named on the command line wins over the peer's REDIS_URL, its
// socket type included (the peer's default is a unix socket).
func TestRateLimitServeFlagsWinOverPeerEnvironment(t *testing.T) {
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "d.yaml"), []byte("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 1}\n"), 0o600)
	grpcAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	cmd := exec.Command(binary, "ratelimit", "serve", "--config-dir", dir, "--redis", r.Addr, "--grpc", grpcAddr, "--http", httpAddr)
	cmd.Env = append(os.Environ(), "REDIS_URL=/var/run/nutcracker/ratelimit.sock")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := rlsv3.NewRateLimitServiceClient(conn)
	req := &rlsv3.RateLimitRequest{Domain: "d", Descriptors: []*rlcommon.RateLimitDescriptor{{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "k", Value: "v"}}}}}
	var codes []string
	for deadline := time.Now().Add(10 * time.Second); len(codes) < 2; {
		resp, err := client.ShouldRateLimit(context.Background(), req)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%v\n%s", err, out.String())
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		codes = append(codes, resp.OverallCode.String())
	}
	// A limit of 1 refuses the second: the counts are in the Redis the
	// flag named, not failing open on an unreachable socket.
	if fmt.Sprint(codes) != "[OK OVER_LIMIT]" {
		t.Fatalf("answers %v\n%s", codes, out.String())
	}
}
