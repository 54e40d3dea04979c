package rls

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/internal/tlsfiles"
)

var oneRule = &Rule{Key: "d.k", Domain: "d", Window: time.Minute, RequestsPerUnit: 5, Unit: "minute"}

// take asks a real Redis for one decision through a RedisConfig.
func take(t *testing.T, c RedisConfig) (Decision, error) {
	t.Helper()
	c.Timeout = time.Second
	rdb, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	return NewStore(rdb).Take(context.Background(), oneRule, "k", 1)
}

// A password, an ACL user and TLS with a client certificate, each against
// a real redis-server that demands it; the wrong secret is refused.
func TestRedisAuthAndTLS(t *testing.T) {
	pw := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "s3cret"})
	if _, err := take(t, RedisConfig{Addrs: []string{pw.Addr}}); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("without the password: %v", err)
	}
	if d, err := take(t, RedisConfig{Addrs: []string{pw.Addr}, Auth: "s3cret"}); err != nil || d.Remaining != 4 {
		t.Fatalf("with the password: %+v %v", d, err)
	}
	acl := testenv.StartRedisWith(t, testenv.RedisOptions{Password: "other", Users: []string{"rl on >pw ~* &* +@all"}})
	if _, err := take(t, RedisConfig{Addrs: []string{acl.Addr}, Auth: "rl:wrong"}); err == nil {
		t.Fatal("a wrong ACL password was accepted")
	}
	if d, err := take(t, RedisConfig{Addrs: []string{acl.Addr}, Auth: "rl:pw"}); err != nil || d.Remaining != 4 {
		t.Fatalf("as the ACL user: %+v %v", d, err)
	}

	ca := testenv.NewCA(t, "redis-ca")
	cert, key := ca.Issue("redis")
	clientCert, clientKey := ca.Issue("client")
	tlsRedis := testenv.StartRedisWith(t, testenv.RedisOptions{TLSCert: cert, TLSKey: key, ClientCA: ca.File})
	base := RedisConfig{Addrs: []string{tlsRedis.Addr}, TLS: true, TLSCA: ca.File}
	if _, err := take(t, base); err == nil {
		t.Fatal("TLS without the client certificate Redis demands was accepted")
	}
	withCert := base
	withCert.TLSCert, withCert.TLSKey = clientCert, clientKey
	if d, err := take(t, withCert); err != nil || d.Remaining != 4 {
		t.Fatalf("TLS with a client certificate: %+v %v", d, err)
	}
	untrusted := withCert
	untrusted.TLSCA = testenv.NewCA(t, "stranger").File
	if _, err := take(t, untrusted); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server certificate from an unknown CA: %v", err)
	}
	untrusted.TLSSkipHostnameVerifying = true
	if _, err := take(t, untrusted); err != nil {
		t.Fatalf("with verification explicitly skipped: %v", err)
	}
}

// Per-second limits go to their own Redis, the rest to the main one.
func TestPerSecondRedis(t *testing.T) {
	main, perSecond := testenv.StartRedis(t), testenv.StartRedis(t)
	m, _ := RedisConfig{Addrs: []string{main.Addr}, Timeout: time.Second}.Client()
	p, _ := RedisConfig{Addrs: []string{perSecond.Addr}, Timeout: time.Second}.Client()
	defer m.Close()
	defer p.Close()
	s := NewStore(m)
	s.SetPerSecond(p, 0, 1)
	ctx := context.Background()
	s.Take(ctx, &Rule{Window: time.Second, RequestsPerUnit: 5}, "fast", 1)
	s.Take(ctx, &Rule{Window: time.Minute, RequestsPerUnit: 5}, "slow", 1)
	mk, _ := m.Keys(ctx, "*").Result()
	pk, _ := p.Keys(ctx, "*").Result()
	if len(mk) != 1 || !strings.Contains(mk[0], "slow") || len(pk) != 1 || !strings.Contains(pk[0], "fast") {
		t.Fatalf("main Redis has %v, per-second Redis %v", mk, pk)
	}
}

// gRPC over mutual TLS: a client without a certificate, or with one that
// lacks the required name, is refused; a renewed server certificate is
// served without a restart.
func TestGRPCMutualTLSAndCertificateReload(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb, _ := RedisConfig{Addrs: []string{r.Addr}, Timeout: time.Second}.Client()
	defer rdb.Close()
	srv, err := NewServer("testdata/readme", LoadOptions{}, NewStore(rdb), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.WatchInterval = 0
	ca := testenv.NewCA(t, "ca")
	certFile, keyFile := ca.Issue("rls")
	if srv.TLS, err = tlsfiles.Server(certFile, keyFile, ca.File, "envoy"); err != nil {
		t.Fatal(err)
	}
	grpcLn, _ := net.Listen("tcp", "127.0.0.1:0")
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLn, httpLn) }()
	defer func() { cancel(); <-done }()

	ask := func(caFile, cert, key string) error {
		cfg, err := tlsfiles.Client(cert, key, caFile, false)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = rlsv3.NewRateLimitServiceClient(conn).ShouldRateLimit(c, &rlsv3.RateLimitRequest{Domain: "mongo_cps", Descriptors: []*rlcommon.RateLimitDescriptor{desc("database", "users")}})
		return err
	}
	envoyCert, envoyKey := ca.Issue("envoy")
	if err := ask(ca.File, envoyCert, envoyKey); err != nil {
		t.Fatalf("a client with the right certificate: %v", err)
	}
	if err := ask(ca.File, "", ""); err == nil {
		t.Fatal("a client without a certificate was answered")
	}
	otherCert, otherKey := ca.Issue("someone-else")
	if err := ask(ca.File, otherCert, otherKey); err == nil {
		t.Fatal("a client certificate without the required name was answered")
	}
	// Renewal: the files are replaced by a certificate from a new CA.
	ca2 := testenv.NewCA(t, "ca2")
	newCert, newKey := ca2.Issue("rls")
	if err := ask(ca2.File, envoyCert, envoyKey); err == nil {
		t.Fatal("the new CA was trusted before the renewal")
	}
	for _, f := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		data, _ := os.ReadFile(f[0])
		if err := os.WriteFile(f[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for ask(ca2.File, envoyCert, envoyKey) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
