package rls

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Decisions are taken by one Lua script on Redis's own clock, so that
// replicas' clocks do not matter, and a request over the limit does not
// raise the counter (envoyproxy/ratelimit #185). The script takes a batch
// of decisions, atomically, in one round trip: on a single Redis the
// pipeliner sends every decision waiting at once as one call, which costs
// Redis half the CPU of one call each; on a cluster each goes on its own,
// to the node that holds its key.
//
// KEYS[i] is decision i's counter; ARGV has four values for each: the
// algorithm (f: fixed window, s: sliding log), the limit, the window
// (fixed: seconds, sliding: ms) and the hits. The answer is Redis's time
// in ms, then three integers for each decision: over (0/1); the count
// (fixed) or the hits left (sliding); and the time until the window ends
// (fixed, seconds) or until its oldest hit leaves it (sliding, ms). Only
// integers, so that the reply is read without boxing a value.
//
// A fixed window counts in KEYS[i]:<window start>, which shares KEYS[i]'s
// hash tag and so its cluster slot. It counts first and takes the hits
// back when they went over, inside the same script: one command instead
// of a GET and an INCRBY for the decisions that pass, which are most of
// them. A sliding log keeps the times of the hits of the last window and
// admits at most the limit of them in any such window, so there is no 2x
// burst at window edges (envoyproxy/ratelimit #32).
const decideSource = `
local t = redis.call('TIME')
local sec = tonumber(t[1])
local nowms = sec * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {nowms}
for i, key in ipairs(KEYS) do
  local a = 4 * (i - 1)
  local limit, window, hits = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local over, n, reset
  if ARGV[a + 1] == 'f' then
    local start = sec - (sec % window)
    local counter = key .. ':' .. start
    n = redis.call('INCRBY', counter, hits)
    if n == hits then
      redis.call('EXPIRE', counter, window)
    end
    reset = start + window - sec
    over = n > limit
    if over then
      n = redis.call('DECRBY', counter, hits)
    end
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', nowms - window)
    local used = redis.call('ZCARD', key)
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    reset = window
    if oldest[2] then
      reset = tonumber(oldest[2]) + window - nowms
    end
    over = used + hits > limit
    n = limit - used
    if not over then
      for j = 1, hits do
        redis.call('ZADD', key, nowms, t[1] .. t[2] .. ':' .. i .. ':' .. used .. ':' .. j)
      end
      redis.call('PEXPIRE', key, window)
      n = limit - used - hits
    end
  end
  local o = 3 * i - 1
  out[o], out[o + 1], out[o + 2] = over and 1 or 0, n, reset
end
return out
`

var decideScript = redis.NewScript(decideSource)

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
	// Prefix goes before every counter's key (CACHE_KEY_PREFIX).
	Prefix string
	// Timeout bounds each round trip to Redis, dialing included; default
	// 50 ms. A decision waits at most this and the pipeline window.
	Timeout time.Duration

	pipe *pipeliner
	// perSecond, when set, holds the counters of per-second limits on a
	// Redis of their own (envoyproxy/ratelimit's REDIS_PERSECOND).
	perSecond *pipeliner
}

// SetPerSecond keeps per-second limits' counters on rdb, with their own
// pipelining.
func (s *Store) SetPerSecond(rdb redis.UniversalClient, window time.Duration, limit int) {
	s.perSecond = &pipeliner{rdb: rdb, window: window, limit: max(limit, 1)}
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

// Take counts hits against a rule's counter key and decides. The hash tag
// keeps a fixed window's counters in its key's slot.
func (s *Store) Take(ctx context.Context, r *Rule, key string, hits uint32) (Decision, error) {
	return s.take(ctx, r, s.Prefix+hashTagOpen(r)+key+"}", hits)
}

// hashTagOpen starts a counter's Redis key: its algorithm, and the brace
// of the hash tag that holds the rest.
func hashTagOpen(r *Rule) string {
	if r.Sliding {
		return "sw:{"
	}
	return "fw:{"
}

// take is Take with the counter's whole Redis key.
func (s *Store) take(ctx context.Context, r *Rule, redisKey string, hits uint32) (Decision, error) {
	d := Decision{Limit: r.RequestsPerUnit}
	if r.RequestsPerUnit == 0 {
		d.Over, d.Reset = true, r.Window
		return d, nil
	}
	c := &call{key: redisKey, algorithm: "f", limit: r.RequestsPerUnit, window: int64(r.Window / time.Second), hits: hits}
	if r.Sliding {
		c.algorithm, c.window = "s", r.Window.Milliseconds()
	}
	pipe := s.pipe
	if s.perSecond != nil && r.Window == time.Second {
		pipe = s.perSecond
	}
	if err := pipe.run(ctx, c, s.Timeout); err != nil {
		s.degraded.Store(true)
		if s.OnFailure != nil {
			s.OnFailure(err)
		}
		d.Over = s.FailClosed
		return d, errors.Join(ErrRedis, err)
	}
	s.degraded.Store(false)
	d.Over = c.over
	d.At = time.UnixMilli(c.nowms)
	if r.Sliding {
		d.Remaining = uint32(max(c.n, 0))
		d.Reset = time.Duration(c.reset) * time.Millisecond
	} else {
		d.Remaining = uint32(max(int64(r.RequestsPerUnit)-c.n, 0))
		d.Reset = time.Duration(c.reset) * time.Second
	}
	return d, nil
}

// CounterKey is the key of a request descriptor's counter, as
// envoyproxy/ratelimit keys it: the domain, the request's keys and values
// (a share_threshold wildcard's value for the entries it matched) and the
// window, so that a limit the request carries shares the counter of the
// configured one.
func CounterKey(domain string, entries []Entry, shared []string, window time.Duration) string {
	var b strings.Builder
	writeCounterKey(&b, domain, entries, shared, window)
	return b.String()
}

// counterKey is the Redis key of a request descriptor's counter under r:
// CounterKey with the store's prefix and the hash tag Take puts around it
// (which keeps a fixed window's counters in its key's slot), built in one
// allocation.
func (s *Store) counterKey(domain string, entries []Entry, shared []string, r *Rule) string {
	var b strings.Builder
	n := len(s.Prefix) + len("fw:{") + len(domain) + len("|") + 20 + len("}")
	for _, e := range entries {
		n += len("|=") + len(e.Key) + len(e.Value)
	}
	for _, v := range shared {
		n += len(v)
	}
	b.Grow(n)
	b.WriteString(s.Prefix)
	b.WriteString(hashTagOpen(r))
	writeCounterKey(&b, domain, entries, shared, r.Window)
	b.WriteByte('}')
	return b.String()
}

func writeCounterKey(b *strings.Builder, domain string, entries []Entry, shared []string, window time.Duration) {
	b.WriteString(domain)
	for i, e := range entries {
		v := e.Value
		if shared != nil && shared[i] != "" {
			v = shared[i]
		}
		b.WriteByte('|')
		b.WriteString(e.Key)
		b.WriteByte('=')
		b.WriteString(v)
	}
	b.WriteByte('|')
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], int64(window/time.Second), 10))
}
