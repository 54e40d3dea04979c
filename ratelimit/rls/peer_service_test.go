package rls

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// withFile adds a configuration file to a running service and reloads it.
func (v *rlsEnv) withFile(t *testing.T, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(v.dir, name), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.srv.Reload(); err != nil {
		t.Fatal(err)
	}
}

func override(d *rlcommon.RateLimitDescriptor, n uint32, unit typev3.RateLimitUnit) *rlcommon.RateLimitDescriptor {
	d.Limit = &rlcommon.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: n, Unit: unit}
	return d
}

// A limit the request carries (Envoy's rate-limit override) is the
// descriptor's limit, counted on the same counter as the configured one,
// in a configured domain only.
func TestRequestLimitOverride(t *testing.T) {
	v := startRLS(t)
	v.withFile(t, "o.yaml", `domain: o
descriptors:
  - key: key1
    value: value1
    descriptors:
      - key: subkey1
        rate_limit: {unit: minute, requests_per_unit: 1000}
`)
	d := func() *rlcommon.RateLimitDescriptor { return desc("key1", "value1", "subkey1", "something") }
	for i := range 3 {
		resp := v.ask(t, "o", 0, override(d(), 3, typev3.RateLimitUnit_MINUTE))
		if got := codesOf(resp); got != "OK OK" {
			t.Fatalf("request %d: %s", i+1, got)
		}
		if l := resp.Statuses[0].CurrentLimit; l.RequestsPerUnit != 3 || l.Unit != rlsv3.RateLimitResponse_RateLimit_MINUTE {
			t.Fatalf("current limit %v, want the override", l)
		}
	}
	if got := codesOf(v.ask(t, "o", 0, override(d(), 3, typev3.RateLimitUnit_MINUTE))); got != "OVER_LIMIT OVER_LIMIT" {
		t.Fatalf("the fourth request over an override of 3: %s", got)
	}
	st := v.ask(t, "o", 0, d()).Statuses[0]
	if st.CurrentLimit.RequestsPerUnit != 1000 || st.LimitRemaining != 996 {
		t.Fatalf("the configured limit after 3 counted hits: %d left of %d, want 996 of 1000 (one counter)", st.LimitRemaining, st.CurrentLimit.RequestsPerUnit)
	}
	if st := v.ask(t, "nowhere", 0, override(d(), 1, typev3.RateLimitUnit_SECOND)).Statuses[0]; st.CurrentLimit != nil {
		t.Fatalf("an override in an unknown domain was applied: %v", st)
	}
}

// share_threshold: every value the wildcard matches counts on one counter;
// without it each value has its own.
func TestShareThresholdSharesOneCounter(t *testing.T) {
	v := startRLS(t)
	v.withFile(t, "s.yaml", `domain: s
descriptors:
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: {unit: minute, requests_per_unit: 2}
  - key: files
    value: other/*
    rate_limit: {unit: minute, requests_per_unit: 2}
`)
	var got []string
	for _, f := range []string{"files/a", "files/b", "files/c", "other/a", "other/a", "other/b", "other/a"} {
		got = append(got, codesOf(v.ask(t, "s", 0, desc("files", f))))
	}
	want := "[OK OK OK OK OVER_LIMIT OVER_LIMIT OK OK OK OK OK OK OVER_LIMIT OVER_LIMIT]"
	if fmt.Sprint(got) != want {
		t.Fatalf("answers %v, want %s", got, want)
	}
}

// quota_mode: a request is refused only when every quota-mode limit it
// touches is over; each over one still says so in its status.
func TestQuotaMode(t *testing.T) {
	v := startRLS(t)
	v.withFile(t, "q.yaml", `domain: q
descriptors:
  - key: plan
    value: free
    quota_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: plan
    value: paid
    quota_mode: true
    rate_limit: {unit: minute, requests_per_unit: 2}
`)
	free, paid := desc("plan", "free"), desc("plan", "paid")
	answers := []string{
		codesOf(v.ask(t, "q", 0, free, paid)),
		codesOf(v.ask(t, "q", 0, free, paid)),
		codesOf(v.ask(t, "q", 0, free, paid)),
	}
	want := "[OK OK,OK OK OVER_LIMIT,OK OVER_LIMIT OVER_LIMIT,OVER_LIMIT]"
	if fmt.Sprint(answers) != want {
		t.Fatalf("answers %v, want %s", answers, want)
	}
}

// SHADOW_MODE answers OK where it would refuse; the statuses still say
// which limit was over.
func TestGlobalShadowMode(t *testing.T) {
	v := startRLS(t)
	v.srv.Service.ShadowMode = true
	ip := desc("remote_address", "50.0.0.5") // a limit of 0
	if got := codesOf(v.ask(t, "edge_proxy_per_ip", 0, ip)); got != "OK OVER_LIMIT" {
		t.Fatalf("global shadow mode: %s, want OK OVER_LIMIT", got)
	}
}

// RESPONSE_DYNAMIC_METADATA: the request and the metadata of the limits it
// passed.
func TestDynamicMetadata(t *testing.T) {
	v := startRLS(t)
	v.srv.Service.DynamicMetadata = true
	v.withFile(t, "m.yaml", `domain: m
descriptors:
  - key: a
    metadata: {tier: {name: gold}}
    rate_limit: {unit: minute, requests_per_unit: 10}
  - key: b
    metadata: {tier: {level: 2}, extra: x}
    rate_limit: {unit: minute, requests_per_unit: 10}
  - key: c
    metadata: {never: true}
    rate_limit: {unit: minute, requests_per_unit: 0}
`)
	resp := v.ask(t, "m", 3, desc("a", "1"), desc("b", "2"), desc("c", "3"))
	got := fmt.Sprint(resp.DynamicMetadata.AsMap())
	want := "map[descriptors:[map[entries:[a=1]] map[entries:[b=2]] map[entries:[c=3]]] domain:m hitsAddend:3 metadata:map[extra:x tier:map[level:2 name:gold]]]"
	if got != want {
		t.Fatalf("dynamic metadata\n got %s\nwant %s", got, want)
	}
}

// A request without a domain or descriptors gets the peer's code and text.
func TestEmptyRequestsAnswerLikeThePeer(t *testing.T) {
	v := startRLS(t)
	for _, tc := range []struct {
		req  *rlsv3.RateLimitRequest
		want string
	}{
		{&rlsv3.RateLimitRequest{Descriptors: []*rlcommon.RateLimitDescriptor{desc("a", "b")}}, "rate limit domain must not be empty"},
		{&rlsv3.RateLimitRequest{Domain: "messaging"}, "rate limit descriptor list must not be empty"},
	} {
		_, err := v.client.ShouldRateLimit(context.Background(), tc.req)
		if s, _ := status.FromError(err); s.Code() != codes.Unknown || s.Message() != tc.want {
			t.Errorf("%v: %v, want Unknown %q", tc.req, err, tc.want)
		}
	}
}

// The time until reset is whole seconds, the same whether Redis or the
// over-limit cache answers.
func TestResetIsWholeSecondsFromCacheAndRedis(t *testing.T) {
	v := startRLS(t)
	v.withFile(t, "r.yaml", "domain: r\ndescriptors:\n  - key: k\n    rate_limit: {unit: hour, requests_per_unit: 1}\n")
	v.ask(t, "r", 0, desc("k", "v"))
	fromRedis := v.ask(t, "r", 0, desc("k", "v")).Statuses[0].DurationUntilReset
	fromCache := v.ask(t, "r", 0, desc("k", "v")).Statuses[0].DurationUntilReset
	if fromRedis.Nanos != 0 || fromCache.Nanos != 0 {
		t.Fatalf("resets %v and %v, want whole seconds", fromRedis, fromCache)
	}
	if d := fromRedis.Seconds - fromCache.Seconds; d < 0 || d > 1 {
		t.Fatalf("Redis said %ds, the cache %ds just after", fromRedis.Seconds, fromCache.Seconds)
	}
}

// Hits past NEAR_LIMIT_RATIO of a limit also count as near_limit, as the
// peer counts them; the over-limit cache stays within its size.
func TestNearLimitAndCacheSize(t *testing.T) {
	v := startRLS(t)
	v.withFile(t, "n.yaml", "domain: n\ndescriptors:\n  - key: k\n    rate_limit: {unit: hour, requests_per_unit: 10}\n")
	for range 10 {
		v.ask(t, "n", 0, desc("k", "v"))
	}
	if got := testutil.ToFloat64(v.srv.Service.hits.WithLabelValues("n.k", "near_limit")); got != 2 {
		t.Fatalf("near_limit %v after 10 hits of 10 at 0.8, want 2 (the 9th and the 10th)", got)
	}
	v.withFile(t, "c.yaml", "domain: c\ndescriptors:\n  - key: k\n    rate_limit: {unit: hour, requests_per_unit: 1}\n")
	v.srv.Service.CacheBytes = 100 // room for one entry
	for _, value := range []string{"a", "b", "c"} {
		v.ask(t, "c", 0, desc("k", value))
		if got := codesOf(v.ask(t, "c", 0, desc("k", value))); got != "OVER_LIMIT OVER_LIMIT" {
			t.Fatalf("the second hit on %s: %s", value, got)
		}
	}
	s := v.srv.Service
	s.mu.Lock()
	n, bytes := len(s.over), s.overBytes
	s.mu.Unlock()
	if n != 1 || bytes > 100 {
		t.Fatalf("cache holds %d entries, %d bytes; want 1 within its 100", n, bytes)
	}
}
