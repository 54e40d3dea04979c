package ratelimit

import (
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// TokenBucket is Envoy's local rate limit: the bucket holds MaxTokens and
// starts full; every FillInterval it gains TokensPerFill, up to MaxTokens. A
// request takes a token or is refused at once.
type TokenBucket struct {
	MaxTokens     int
	TokensPerFill int
	FillInterval  time.Duration
}

// LeakyBucket is nginx's limit_req: requests conform to Rate; up to Burst
// requests over it are accepted, the first Delay of them at once and the
// rest held back until they conform; beyond Burst they are refused.
// nodelay is Delay == Burst.
type LeakyBucket struct {
	// Rate is in requests per second; nginx's "10r/s" is 10, "30r/m" 0.5.
	Rate  float64
	Burst int
	Delay int
}

// Decision is what a limiter says of one request.
type Decision struct {
	Allowed bool
	// Wait is how long an allowed request must be held back to conform to
	// the rate (leaky bucket only).
	Wait time.Duration
}

// Limiter applies one algorithm per key. Keys are kept in an LRU table of
// bounded size: when it is full the least recently used key is forgotten,
// as nginx does when its zone is full.
type Limiter struct {
	token *TokenBucket
	leaky *LeakyBucket
	// Now is the clock; tests may replace it.
	Now func() time.Time

	mu   sync.Mutex // guards every state in keys
	keys *lru.Cache[string, *state]
}

type state struct {
	tokens   int
	lastFill time.Time
	// excess is nginx's: requests over the rate, in thousandths.
	excess int64
	last   time.Time
}

// NewTokenBucket returns an Envoy-style limiter over at most maxKeys keys.
func NewTokenBucket(tb TokenBucket, maxKeys int) *Limiter {
	return newLimiter(&tb, nil, maxKeys)
}

// NewLeakyBucket returns an nginx-style limiter over at most maxKeys keys.
func NewLeakyBucket(lb LeakyBucket, maxKeys int) *Limiter {
	return newLimiter(nil, &lb, maxKeys)
}

func newLimiter(tb *TokenBucket, lb *LeakyBucket, maxKeys int) *Limiter {
	keys, _ := lru.New[string, *state](max(maxKeys, 1))
	return &Limiter{token: tb, leaky: lb, Now: time.Now, keys: keys}
}

// Keys is the number of keys the limiter remembers.
func (l *Limiter) Keys() int { return l.keys.Len() }

// Take decides one request of key.
func (l *Limiter) Take(key string) Decision {
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.keys.Get(key)
	if !ok {
		st = &state{lastFill: now, last: now}
		if l.token != nil {
			st.tokens = l.token.MaxTokens
		}
		l.keys.Add(strings.Clone(key), st) // key may view a request's buffer
		if l.leaky != nil {
			return Decision{Allowed: true} // nginx lets the first request of a key through with no excess
		}
	}
	if l.token != nil {
		return l.takeToken(st, now)
	}
	return l.takeLeaky(st, now)
}

func (l *Limiter) takeToken(st *state, now time.Time) Decision {
	tb := l.token
	if periods := int(now.Sub(st.lastFill) / tb.FillInterval); periods > 0 {
		st.tokens = min(tb.MaxTokens, st.tokens+periods*tb.TokensPerFill)
		st.lastFill = st.lastFill.Add(time.Duration(periods) * tb.FillInterval)
	}
	if st.tokens == 0 {
		return Decision{}
	}
	st.tokens--
	return Decision{Allowed: true}
}

// takeLeaky is ngx_http_limit_req_lookup and its delay, in milliseconds.
func (l *Limiter) takeLeaky(st *state, now time.Time) Decision {
	lb := l.leaky
	rate := int64(lb.Rate * 1000) // thousandths of a request per second
	ms := now.Sub(st.last).Milliseconds()
	if ms < 0 {
		ms = -ms
	}
	excess := st.excess - rate*ms/1000 + 1000
	if excess < 0 {
		excess = 0
	}
	if excess > int64(lb.Burst)*1000 {
		return Decision{}
	}
	st.excess, st.last = excess, now
	if excess <= int64(lb.Delay)*1000 {
		return Decision{Allowed: true}
	}
	wait := (excess - int64(lb.Delay)*1000) * 1000 / rate
	return Decision{Allowed: true, Wait: time.Duration(wait) * time.Millisecond}
}
