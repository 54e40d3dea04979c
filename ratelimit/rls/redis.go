package rls

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Each decision is one Lua script: one atomic round trip on Redis's own
// clock, so that replicas' clocks do not matter, and a request over the
// limit does not raise the counter (envoyproxy/ratelimit #185).

// fixedWindow counts hits in the current window of ARGV[2] seconds.
// It returns over (0/1), the count, seconds to the window's end, and now in ms.
var fixedWindow = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1])
local limit, window, hits = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start = now - (now % window)
local key = KEYS[1] .. ':' .. start
local cur = tonumber(redis.call('GET', key) or '0')
local nowms = now * 1000 + math.floor(tonumber(t[2]) / 1000)
if cur + hits > limit then
  return {1, cur, start + window - now, nowms}
end
cur = redis.call('INCRBY', key, hits)
if cur == hits then
  redis.call('EXPIRE', key, window)
end
return {0, cur, start + window - now, nowms}
`)

// slidingLog keeps the times of the hits of the last ARGV[2] ms and admits
// at most ARGV[1] of them in any such window, so there is no 2x burst at
// window edges (envoyproxy/ratelimit #32). It returns over, hits left, ms
// until the oldest hit leaves the window, and now in ms.
var slidingLog = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, period, hits = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local n = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = period
if oldest[2] then reset = tonumber(oldest[2]) + period - now end
if n + hits > limit then
  return {1, limit - n, reset, now}
end
for i = 1, hits do
  redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. n .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[1], period)
return {0, limit - n - hits, reset, now}
`)

// Decision is one limit's answer.
type Decision struct {
	Over      bool
	Limit     uint32
	Remaining uint32
	// Reset is how long until the limit has room again (over) or is whole.
	Reset time.Duration
	// At is Redis's time of the decision.
	At time.Time
}

// Store keeps the counters in Redis. When Redis cannot answer within the
// timeout, the store answers with its failure mode instead of an error.
type Store struct {
	rdb redis.UniversalClient
	// FailClosed answers over-limit while Redis is unreachable; the default
	// lets requests through.
	FailClosed bool
	// degraded is true while the last call to Redis failed.
	degraded atomic.Bool
	// OnFailure is told of each decision taken without Redis.
	OnFailure func(error)
	// Timeout bounds each decision, dialing included; default 50 ms.
	Timeout time.Duration

	pipe *pipeliner
}

// NewStore uses rdb, whose dial, read and write timeouts bound each decision.
func NewStore(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, Timeout: DefaultTimeout, pipe: &pipeliner{rdb: rdb, window: DefaultPipelineWindow, limit: DefaultPipelineLimit}}
}

// Pipelining defaults: on this 2-core machine a 60 µs window doubled the
// decisions per second under 32 concurrent callers (bench/README.md).
const (
	DefaultPipelineWindow = 60 * time.Microsecond
	DefaultPipelineLimit  = 128
)

// SetPipeline sets how long concurrent decisions wait to share a Redis
// round trip, and how many share one at most; a zero window sends each
// decision on its own.
func (s *Store) SetPipeline(window time.Duration, limit int) {
	s.pipe.window, s.pipe.limit = window, max(limit, 1)
}

// DefaultTimeout is how long a decision may wait for Redis.
const DefaultTimeout = 50 * time.Millisecond

// Degraded reports whether Redis failed on the last call: the readiness flag.
func (s *Store) Degraded() bool { return s.degraded.Load() }

// ErrRedis marks a decision taken by the failure mode.
var ErrRedis = errors.New("redis unavailable")

// Take counts hits against a rule's counter key and decides.
func (s *Store) Take(ctx context.Context, r *Rule, key string, hits uint32) (Decision, error) {
	d := Decision{Limit: r.RequestsPerUnit}
	if r.RequestsPerUnit == 0 {
		d.Over, d.Reset = true, r.Window
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	var res []int64
	var err error
	if r.Sliding {
		res, err = s.pipe.run(ctx, slidingLog, []string{"sw:" + key}, r.RequestsPerUnit, r.Window.Milliseconds(), hits)
	} else {
		res, err = s.pipe.run(ctx, fixedWindow, []string{"fw:" + key}, r.RequestsPerUnit, int64(r.Window/time.Second), hits)
	}
	if err != nil {
		s.degraded.Store(true)
		if s.OnFailure != nil {
			s.OnFailure(err)
		}
		d.Over = s.FailClosed
		return d, errors.Join(ErrRedis, err)
	}
	s.degraded.Store(false)
	d.Over = res[0] == 1
	d.At = time.UnixMilli(res[3])
	if r.Sliding {
		d.Remaining = uint32(max(res[1], 0))
		d.Reset = time.Duration(res[2]) * time.Millisecond
	} else {
		d.Remaining = uint32(max(int64(r.RequestsPerUnit)-res[1], 0))
		d.Reset = time.Duration(res[2]) * time.Second
	}
	return d, nil
}

// CounterKey is the Redis key of a request descriptor's counter for a rule:
// the rule's key plus the request's values, as envoyproxy/ratelimit counts
// a key-only descriptor per value.
func CounterKey(r *Rule, entries []Entry) string {
	k := r.Key
	for _, e := range entries {
		k += "|" + e.Key + "=" + e.Value
	}
	return k + "|" + strconv.FormatInt(int64(r.Window/time.Second), 10)
}
