package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// burst sends n requests at the same instant and counts what happens.
func burst(l *Limiter, n int) (immediate, delayed, refused int, longest time.Duration) {
	for range n {
		d := l.Take("pod")
		switch {
		case !d.Allowed:
			refused++
		case d.Wait > 0:
			delayed++
			longest = max(longest, d.Wait)
		default:
			immediate++
		}
	}
	return
}

// Handbook §13.3: 70 requests at once against Envoy's max_tokens 50,
// tokens_per_fill 10, fill_interval 1s and nginx's rate=10r/s burst=50
// delay=10.
func TestHandbookBurstTable(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return start }

	envoy := NewTokenBucket(TokenBucket{MaxTokens: 50, TokensPerFill: 10, FillInterval: time.Second}, 10)
	envoy.Now = clock
	i, d, r, _ := burst(envoy, 70)
	if i != 50 || d != 0 || r != 20 {
		t.Errorf("token bucket: %d at once, %d queued, %d refused; want 50, 0, 20", i, d, r)
	}

	nginx := NewLeakyBucket(LeakyBucket{Rate: 10, Burst: 50, Delay: 10}, 10)
	nginx.Now = clock
	i, d, r, longest := burst(nginx, 70)
	// nginx lets a request through while its excess is at most burst: the
	// first (excess 0) and 50 more; the first 10 excess pass at once.
	if i != 11 || d != 40 || r != 19 || longest != 4*time.Second {
		t.Errorf("leaky bucket: %d at once, %d queued (last after %v), %d refused; want 11, 40 (4s), 19", i, d, longest, r)
	}
}

// Sustained 70 rps against both, second by second: both settle at 10 rps
// through; the token bucket lets a burst of 50 through in the first second,
// the leaky bucket holds it back.
func TestSustainedOverload(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	envoy := NewTokenBucket(TokenBucket{MaxTokens: 50, TokensPerFill: 10, FillInterval: time.Second}, 10)
	nginx := NewLeakyBucket(LeakyBucket{Rate: 10, Burst: 50, Delay: 10}, 10)
	envoy.Now, nginx.Now = clock, clock
	var got []string
	for sec := range 4 {
		var e, n [3]int // through at once, delayed, refused
		for i := range 70 {
			now = start.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Second/70)
			for lim, c := range map[*Limiter]*[3]int{envoy: &e, nginx: &n} {
				d := lim.Take("pod")
				switch {
				case !d.Allowed:
					c[2]++
				case d.Wait > 0:
					c[1]++
				default:
					c[0]++
				}
			}
		}
		got = append(got, fmt.Sprintf("%d:%v/%v", sec, e, n))
	}
	// In the first second the leaky bucket accepts burst + rate = 60: each
	// request adds 1 to the excess and 1/7 leaks away before the next, so
	// the first 12 stay within delay=10 and pass at once.
	want := []string{"0:[50 0 20]/[12 48 10]", "1:[10 0 60]/[0 10 60]", "2:[10 0 60]/[0 10 60]", "3:[10 0 60]/[0 10 60]"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("second %s, want %s (token bucket [at once, delayed, refused] / leaky bucket)", got[i], want[i])
		}
	}
}

func TestKeysAreBounded(t *testing.T) {
	l := NewTokenBucket(TokenBucket{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Hour}, 100)
	for i := range 1000 {
		l.Take(fmt.Sprint(i))
	}
	if l.Keys() != 100 {
		t.Fatalf("%d keys remembered, want the 100 most recent", l.Keys())
	}
	if !l.Take("0").Allowed {
		t.Fatal("an evicted key starts over with a full bucket")
	}
	if l.Take("999").Allowed {
		t.Fatal("a remembered key kept its empty bucket")
	}
}
