package rls

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/cutover-dev/cutover/internal/testenv"
)

type rlsEnv struct {
	client rlsv3.RateLimitServiceClient
	srv    *Server
	dir    string
	http   string
	redis  *testenv.Redis
}

// startRLS runs the service over gRPC on loopback, with the README's
// example files and a real Redis.
func startRLS(t *testing.T) *rlsEnv {
	t.Helper()
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	files, _ := filepath.Glob("testdata/readme/*.yaml")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o600)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, DialTimeout: 50 * time.Millisecond, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	srv, err := NewServer(dir, LoadOptions{}, NewStore(rdb), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Service.Headers = true
	srv.WatchInterval = 0
	grpcLn, _ := net.Listen("tcp", "127.0.0.1:0")
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLn, httpLn) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rlsEnv{client: rlsv3.NewRateLimitServiceClient(conn), srv: srv, dir: dir, http: "http://" + httpLn.Addr().String(), redis: r}
}

func desc(kv ...string) *rlcommon.RateLimitDescriptor {
	d := &rlcommon.RateLimitDescriptor{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, &rlcommon.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

func (v *rlsEnv) ask(t *testing.T, domain string, hits uint32, ds ...*rlcommon.RateLimitDescriptor) *rlsv3.RateLimitResponse {
	t.Helper()
	resp, err := v.client.ShouldRateLimit(context.Background(), &rlsv3.RateLimitRequest{Domain: domain, Descriptors: ds, HitsAddend: hits})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func codesOf(r *rlsv3.RateLimitResponse) string {
	var s []string
	for _, st := range r.Statuses {
		s = append(s, st.Code.String())
	}
	return r.OverallCode.String() + " " + strings.Join(s, ",")
}

func TestServiceAnswersLikeEnvoyRatelimit(t *testing.T) {
	v := startRLS(t)
	// Example 2: several descriptors in one request are OR'd.
	marketing := desc("message_type", "marketing", "to_number", "2061111111")
	number := desc("to_number", "2061111111")
	for i := range 5 {
		if got := codesOf(v.ask(t, "messaging", 0, marketing, number)); got != "OK OK,OK" {
			t.Fatalf("message %d: %s", i+1, got)
		}
	}
	if got := codesOf(v.ask(t, "messaging", 0, marketing, number)); got != "OVER_LIMIT OVER_LIMIT,OK" {
		t.Fatalf("the sixth marketing message: %s", got)
	}
	// Example 7: a matching limit that replaces another drops it.
	resp := v.ask(t, "example7", 0, desc("key_1", "value_1", "user", "bkthomps"), desc("key_2", "value_2", "user", "bkthomps"))
	if resp.Statuses[0].CurrentLimit != nil || resp.Statuses[1].CurrentLimit.GetRequestsPerUnit() != 10 {
		t.Fatalf("replaces: %v", resp.Statuses)
	}
	// Example 6: shadow mode counts but never refuses.
	for range 12 {
		if got := codesOf(v.ask(t, "example6", 0, desc("service", "auth", "user", "user-a"))); got != "OK OK" {
			t.Fatalf("shadow mode refused: %s", got)
		}
	}
	// Example 5: unlimited.
	if st := v.ask(t, "internal", 0, desc("ldap", "x")).Statuses[0]; st.Code != rlsv3.RateLimitResponse_OK || st.LimitRemaining != math.MaxUint32 {
		t.Fatalf("unlimited: %v", st)
	}
	// hits_addend per request and per descriptor, and the headers.
	resp = v.ask(t, "mongo_cps", 400, desc("database", "users"))
	if st := resp.Statuses[0]; st.LimitRemaining != 100 || st.DurationUntilReset.AsDuration() > time.Second {
		t.Fatalf("400 hits of 500: %v", st)
	}
	h := map[string]string{}
	for _, hv := range resp.ResponseHeadersToAdd {
		h[hv.Key] = hv.Value
	}
	if h["RateLimit-Limit"] != "500" || h["RateLimit-Remaining"] != "100" || h["RateLimit-Reset"] != "1" {
		t.Fatalf("headers %v", h)
	}
	d := desc("database", "default")
	d.HitsAddend = wrapperspb.UInt64(501)
	if got := codesOf(v.ask(t, "mongo_cps", 1, d)); got != "OVER_LIMIT OVER_LIMIT" {
		t.Fatalf("a descriptor's own hits_addend: %s", got)
	}
	if _, err := v.client.ShouldRateLimit(context.Background(), &rlsv3.RateLimitRequest{Domain: "messaging"}); err == nil {
		t.Fatal("a request without descriptors was answered")
	}
}

// A bad file is refused whole and the old configuration keeps serving; a
// reload that raises a limit is obeyed at once, even for counters the cache
// knew to be over the old one.
func TestReloadKeepsServingAndRespectsRaisedLimits(t *testing.T) {
	v := startRLS(t)
	ip := desc("remote_address", "10.0.0.1")
	// The limit is 10 a second, counted in whole-second windows: start at
	// the beginning of one so that the requests and the reload below fall
	// in the same window.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 5*time.Millisecond)))
	for range 10 {
		v.ask(t, "edge_proxy_per_ip", 0, ip)
	}
	if got := codesOf(v.ask(t, "edge_proxy_per_ip", 0, ip)); got != "OVER_LIMIT OVER_LIMIT" {
		t.Fatalf("the 11th request: %s", got)
	}
	os.WriteFile(filepath.Join(v.dir, "3.yaml"), []byte("domain: edge_proxy_per_ip\ndescriptors:\n  - key: remote_address\n    rate_limit: {unit: fortnight}\n"), 0o600)
	err := v.srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "3.yaml:4:18: descriptors[0].rate_limit.unit") {
		t.Fatalf("bad reload: %v", err)
	}
	if got := codesOf(v.ask(t, "edge_proxy_per_ip", 0, ip)); got != "OVER_LIMIT OVER_LIMIT" {
		t.Fatalf("after a refused reload: %s", got)
	}
	os.WriteFile(filepath.Join(v.dir, "3.yaml"), []byte("domain: edge_proxy_per_ip\ndescriptors:\n  - key: remote_address\n    rate_limit: {unit: second, requests_per_unit: 1000}\n"), 0o600)
	if err := v.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := codesOf(v.ask(t, "edge_proxy_per_ip", 0, ip)); got != "OK OK" {
		t.Fatalf("after raising the limit: %s", got)
	}
}

func TestRedisDownAnswersTheFailureMode(t *testing.T) {
	v := startRLS(t)
	v.redis.Stop()
	start := time.Now()
	if got := codesOf(v.ask(t, "mongo_cps", 0, desc("database", "users"))); got != "OK OK" {
		t.Fatalf("with Redis down (fail open): %s", got)
	}
	if took := time.Since(start); took > 4*DefaultTimeout {
		t.Fatalf("the answer took %v with a %v timeout", took, DefaultTimeout)
	}
	resp, err := http.Get(v.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "answering allow") {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	resp, _ = http.Get(v.http + "/metrics")
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"cutover_rls_redis_failures_total 1", "cutover_rls_degraded 1", `cutover_rls_decisions_total{domain="mongo_cps",result="failure_allow"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	v.redis.Start()
	deadline := time.Now().Add(5 * time.Second)
	for v.srv.Service.store.Degraded() {
		v.ask(t, "mongo_cps", 0, desc("database", "users"))
		if time.Now().After(deadline) {
			t.Fatal("did not recover")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two replicas of the service on one Redis admit, together, no more than
// the limit in a fixed window (plus one window's worth if the test spans a
// window edge).
func TestTwoReplicasOnOneRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "shared.yaml"), []byte("domain: shared\ndescriptors:\n  - key: tenant\n    rate_limit: {unit: hour, requests_per_unit: 200}\n"), 0o600)
	var clients []rlsv3.RateLimitServiceClient
	for range 2 {
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
		t.Cleanup(func() { rdb.Close() })
		srv, err := NewServer(dir, LoadOptions{}, NewStore(rdb), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		grpcLn, _ := net.Listen("tcp", "127.0.0.1:0")
		httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, grpcLn, httpLn) }()
		t.Cleanup(func() { cancel(); <-done })
		conn, _ := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, rlsv3.NewRateLimitServiceClient(conn))
	}
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	for i := range 64 {
		c := clients[i%2]
		wg.Go(func() {
			for range 10 {
				resp, err := c.ShouldRateLimit(context.Background(), &rlsv3.RateLimitRequest{Domain: "shared", Descriptors: []*rlcommon.RateLimitDescriptor{desc("tenant", "acme")}})
				if err == nil && resp.OverallCode == rlsv3.RateLimitResponse_OK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// An hour window: the test cannot span two of them in practice, so the
	// admitted count is exactly the limit.
	if ok != 200 {
		t.Fatalf("two replicas admitted %d of 640 at a limit of 200", ok)
	}
}

// Example 8: detailed_metric counts a key-only limit per value.
func TestDetailedMetric(t *testing.T) {
	v := startRLS(t)
	v.ask(t, "example8", 0, desc("key1", "unspecified_value"))
	v.ask(t, "example8", 0, desc("key1", "unspecified_value2"))
	v.ask(t, "example8", 0, desc("key1", "value1"))
	v.ask(t, "mongo_cps", 0, desc("database", "users"))
	resp, err := http.Get(v.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cutover_rls_hits_total{key="example8.key1_unspecified_value",result="within_limit"} 1`,
		`cutover_rls_hits_total{key="example8.key1_unspecified_value2",result="within_limit"} 1`,
		`cutover_rls_hits_total{key="example8.key1_value1",result="within_limit"} 1`,
		`cutover_rls_hits_total{key="mongo_cps.database_users",result="within_limit"} 1`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
