package main_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cutover-dev/cutover/internal/testenv"
)

// peerModule is the envoyproxy/ratelimit version whose integration-test
// runtime directory these tests serve.
const peerModule = "github.com/envoyproxy/ratelimit@v1.4.1-0.20260122083618-3fb702589d36"

// peerRuntime copies the peer's integration-test runtime directory (its
// config files, unchanged) where a test may change it.
func peerRuntime(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testenv.ModuleDir(t, peerModule), "test", "integration", "runtime", "current")
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// peerService starts `cutover ratelimit serve` configured only by the
// environment the peer's integration tests give the peer.
func peerService(t *testing.T, root string, env ...string) rlsv3.RateLimitServiceClient {
	t.Helper()
	grpcAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	_, grpcPort, _ := net.SplitHostPort(grpcAddr)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	cmd := exec.Command(binary, "ratelimit", "serve")
	cmd.Env = append(os.Environ(), append([]string{
		"RUNTIME_ROOT=" + root, "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_APPDIRECTORY=config",
		"REDIS_SOCKET_TYPE=tcp", "REDIS_PERSECOND_SOCKET_TYPE=tcp", "USE_STATSD=false",
		"GRPC_HOST=127.0.0.1", "GRPC_PORT=" + grpcPort, "HOST=127.0.0.1", "PORT=" + httpPort, "LOG_LEVEL=warn",
	}, env...)...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the service exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/healthcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthcheck on $PORT\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rlsv3.NewRateLimitServiceClient(conn)
}

// answer is what the peer's integration tests compare: the overall code
// and, per descriptor, code, limit, unit and remaining.
func answer(t *testing.T, c rlsv3.RateLimitServiceClient, domain string, kvs ...[2]string) string {
	t.Helper()
	req := &rlsv3.RateLimitRequest{Domain: domain, HitsAddend: 1}
	for _, kv := range kvs {
		req.Descriptors = append(req.Descriptors, &rlcommon.RateLimitDescriptor{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: kv[0], Value: kv[1]}}})
	}
	resp, err := c.ShouldRateLimit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	s := resp.OverallCode.String()
	for _, st := range resp.Statuses {
		s += " " + st.Code.String()
		if l := st.CurrentLimit; l != nil {
			s += fmt.Sprintf(":%d/%s:%d", l.RequestsPerUnit, l.Unit, st.LimitRemaining)
		}
	}
	return s
}

// basicBaseConfig is the call sequence of the peer's testBasicBaseConfig,
// with its expected answers (its statsd counters are not compared).
func basicBaseConfig(t *testing.T, c rlsv3.RateLimitServiceClient, local bool) {
	key := func(k string) string {
		if local {
			return k + "_local"
		}
		return k
	}
	check := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	check(answer(t, c, "foo", [2]string{key("hello"), "world"}), "OK OK")
	check(answer(t, c, "basic", [2]string{key("key1"), "foo"}), "OK OK:50/SECOND:49")
	v := fmt.Sprint(rand.Int())
	for i := range 25 {
		want := fmt.Sprintf("OK OK:20/MINUTE:%d", 20-(i+1))
		if i >= 20 {
			want = "OVER_LIMIT OVER_LIMIT:20/MINUTE:0"
		}
		check(answer(t, c, "another", [2]string{key("key2"), v}), want)
	}
	v = fmt.Sprint(rand.Int())
	for i := range 15 {
		want := fmt.Sprintf("OK OK:20/MINUTE:%d OK:10/HOUR:%d", 20-(i+1), 10-(i+1))
		if i >= 10 {
			want = fmt.Sprintf("OVER_LIMIT OK:20/MINUTE:%d OVER_LIMIT:10/HOUR:0", 20-(i+1))
		}
		check(answer(t, c, "another", [2]string{key("key2"), v}, [2]string{key("key3"), v}), want)
	}
	reset := func() int64 {
		resp, err := c.ShouldRateLimit(context.Background(), &rlsv3.RateLimitRequest{Domain: "another", Descriptors: []*rlcommon.RateLimitDescriptor{{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: key("key4"), Value: "durTest"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Statuses[0].DurationUntilReset.GetSeconds()
	}
	first := reset()
	time.Sleep(2 * time.Second)
	if second := reset(); second >= first {
		t.Fatalf("duration until reset %ds, then %ds two seconds later", first, second)
	}
}

// The peer's integration cases, on its own runtime directory and with the
// environment it gives itself: plain, per-second Redis, the local cache,
// a key prefix, AUTH, TLS (with and without a client certificate),
// cluster and sentinel.
func TestPeerIntegrationBasicConfig(t *testing.T) {
	root := peerRuntime(t)
	ca := testenv.NewCA(t, "ca")
	cert, key := ca.Issue("redis")
	clientCert, clientKey := ca.Issue("client")
	cases := []struct {
		name  string
		local bool
		env   func(t *testing.T) []string
	}{
		{"WithoutPerSecondRedis", false, func(t *testing.T) []string {
			return []string{"REDIS_URL=" + testenv.StartRedis(t).Addr, "LOCAL_CACHE_SIZE_IN_BYTES=0"}
		}},
		{"WithPerSecondRedis", false, func(t *testing.T) []string {
			return []string{"REDIS_URL=" + testenv.StartRedis(t).Addr, "REDIS_PERSECOND=true", "REDIS_PERSECOND_URL=" + testenv.StartRedis(t).Addr, "LOCAL_CACHE_SIZE_IN_BYTES=0"}
		}},
		{"WithPerSecondRedisWithLocalCache", true, func(t *testing.T) []string {
			return []string{"REDIS_URL=" + testenv.StartRedis(t).Addr, "REDIS_PERSECOND=true", "REDIS_PERSECOND_URL=" + testenv.StartRedis(t).Addr, "LOCAL_CACHE_SIZE_IN_BYTES=1000"}
		}},
		{"WithoutPerSecondRedisWithCachePrefix", false, func(t *testing.T) []string {
			return []string{"REDIS_URL=" + testenv.StartRedis(t).Addr, "CACHE_KEY_PREFIX=prefix:"}
		}},
		{"WithPerSecondRedisAuth", false, func(t *testing.T) []string {
			a := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123"})
			b := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123"})
			return []string{"REDIS_URL=" + a.Addr, "REDIS_AUTH=password123", "REDIS_PERSECOND=true", "REDIS_PERSECOND_URL=" + b.Addr, "REDIS_PERSECOND_AUTH=password123"}
		}},
		{"WithPerSecondRedisTLS", false, func(t *testing.T) []string {
			a := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123", TLSCert: cert, TLSKey: key, CA: ca.File})
			b := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123", TLSCert: cert, TLSKey: key, CA: ca.File})
			return []string{"REDIS_URL=" + a.Addr, "REDIS_AUTH=password123", "REDIS_TLS=true", "REDIS_TLS_CACERT=" + ca.File,
				"REDIS_PERSECOND=true", "REDIS_PERSECOND_URL=" + b.Addr, "REDIS_PERSECOND_AUTH=password123", "REDIS_PERSECOND_TLS=true"}
		}},
		{"WithoutPerSecondRedisTLSWithClientCert", false, func(t *testing.T) []string {
			a := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123", TLSCert: cert, TLSKey: key, ClientCA: ca.File})
			return []string{"REDIS_URL=" + a.Addr, "REDIS_AUTH=password123", "REDIS_TLS=true", "REDIS_TLS_CACERT=" + ca.File,
				"REDIS_TLS_CLIENT_CERT=" + clientCert, "REDIS_TLS_CLIENT_KEY=" + clientKey}
		}},
		{"WithPerSecondRedisAuthWithRedisCluster", false, func(t *testing.T) []string {
			return []string{"REDIS_TYPE=cluster", "REDIS_URL=" + strings.Join(testenv.StartRedisClusterWith(t, "password123"), ","), "REDIS_AUTH=password123",
				"REDIS_PIPELINE_WINDOW=150us", "REDIS_PERSECOND=true", "REDIS_PERSECOND_TYPE=cluster",
				"REDIS_PERSECOND_URL=" + strings.Join(testenv.StartRedisClusterWith(t, "password123"), ","), "REDIS_PERSECOND_AUTH=password123",
				"REDIS_PERSECOND_PIPELINE_WINDOW=150us"}
		}},
		{"WithPerSecondRedisAuthWithRedisSentinel", false, func(t *testing.T) []string {
			m := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123"})
			pm := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "password123"})
			return []string{"REDIS_TYPE=sentinel", "REDIS_URL=mymaster," + testenv.StartSentinelWith(t, m.Addr, "password123", "sentinelpw"),
				"REDIS_AUTH=password123", "REDIS_SENTINEL_AUTH=sentinelpw",
				"REDIS_PERSECOND=true", "REDIS_PERSECOND_TYPE=sentinel", "REDIS_PERSECOND_URL=mymaster," + testenv.StartSentinelWith(t, pm.Addr, "password123", ""),
				"REDIS_PERSECOND_AUTH=password123"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			basicBaseConfig(t, peerService(t, root, tc.env(t)...), tc.local)
		})
	}
}

// The peer's share_threshold integration case: every value under files/*
// counts on one counter; files_no_share/* values each have their own.
func TestPeerIntegrationShareThreshold(t *testing.T) {
	c := peerService(t, peerRuntime(t), "REDIS_URL="+testenv.StartRedis(t).Addr)
	for i := range 10 {
		want := fmt.Sprintf("OK OK:10/HOUR:%d", 10-(i+1))
		if got := answer(t, c, "share-threshold-test", [2]string{"files", "files/a.pdf"}); got != want {
			t.Fatalf("request %d: %s, want %s", i+1, got, want)
		}
	}
	if got := answer(t, c, "share-threshold-test", [2]string{"files", "files/b.csv"}); got != "OVER_LIMIT OVER_LIMIT:10/HOUR:0" {
		t.Fatalf("another value under the shared wildcard: %s", got)
	}
	for i := range 3 {
		v := fmt.Sprintf("files_no_share/%d-%d.txt", i, rand.Int())
		if got := answer(t, c, "share-threshold-test", [2]string{"files_no_share", v}); got != "OK OK:10/HOUR:9" {
			t.Fatalf("an unshared value: %s", got)
		}
	}
}

// The peer's reload case: a file added to the config directory is served
// without a restart, and its removal is picked up too.
func TestPeerIntegrationReload(t *testing.T) {
	root := peerRuntime(t)
	c := peerService(t, root, "REDIS_URL="+testenv.StartRedis(t).Addr, "RUNTIME_WATCH_ROOT=false")
	if got := answer(t, c, "reload", [2]string{"block", "foo"}); got != "OK OK" {
		t.Fatalf("before the reload: %s", got)
	}
	data, _ := os.ReadFile(filepath.Join(root, "ratelimit", "reload.yaml"))
	added := filepath.Join(root, "ratelimit", "config", "reload.yaml")
	os.WriteFile(added, data, 0o600)
	waitFor(t, func() bool {
		return answer(t, c, "reload", [2]string{"block", "foo"}) == "OVER_LIMIT OVER_LIMIT:0/SECOND:0"
	})
	if got := answer(t, c, "reload", [2]string{"key1", "foo"}); got != "OK OK:50/SECOND:49" {
		t.Fatalf("after the reload: %s", got)
	}
	os.Remove(added)
	waitFor(t, func() bool { return answer(t, c, "reload", [2]string{"block", "foo"}) == "OK OK" })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
