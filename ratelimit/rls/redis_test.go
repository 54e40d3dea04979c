package rls

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cutover-dev/cutover/internal/testenv"
)

func newTestStore(t *testing.T, addr string) *Store {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 50 * time.Millisecond, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return NewStore(rdb)
}

func TestFixedWindowDoesNotCountRefusedHits(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestStore(t, r.Addr)
	rule := &Rule{Key: "d.k", Window: time.Hour, RequestsPerUnit: 10}
	ctx := context.Background()
	over := 0
	for range 15 {
		d, err := s.Take(ctx, rule, "k1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Over {
			over++
		}
	}
	d, _ := s.Take(ctx, rule, "k1", 1)
	if over != 5 || !d.Over || d.Remaining != 0 {
		t.Fatalf("%d over of 15, then %+v", over, d)
	}
	// The counter stayed at the limit: a hit of 0 sees exactly 10 used.
	cnt, _ := redis.NewClient(&redis.Options{Addr: r.Addr}).Keys(ctx, "fw:{k1}:*").Result()
	if len(cnt) != 1 {
		t.Fatalf("keys %v", cnt)
	}
	v, _ := redis.NewClient(&redis.Options{Addr: r.Addr}).Get(ctx, cnt[0]).Int()
	if v != 10 {
		t.Fatalf("counter %d after 16 hits at a limit of 10, want 10", v)
	}
}

// Two replicas (two stores) on one Redis admit no more than the limit in a
// fixed window: the decision is one atomic script.
func TestReplicasShareOneLimit(t *testing.T) {
	r := testenv.StartRedis(t)
	a, b := newTestStore(t, r.Addr), newTestStore(t, r.Addr)
	rule := &Rule{Key: "d.shared", Window: time.Hour, RequestsPerUnit: 100}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range 10 {
				if d, err := s.Take(context.Background(), rule, "k", 1); err == nil && !d.Over {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("two replicas admitted %d of 640 at a limit of 100", allowed.Load())
	}
}

// The sliding window admits no more than the limit in any window,
// measured on Redis's own clock, under 64 concurrent clients.
func TestSlidingWindowNeverExceedsTheLimit(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestStore(t, r.Addr)
	rule := &Rule{Key: "d.slide", Window: time.Second, RequestsPerUnit: 50, Sliding: true}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := s.Take(context.Background(), rule, "k", 1)
				if err == nil && !d.Over {
					mu.Lock()
					at = append(at, d.At)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	worst := 0
	for i := range at {
		j, _ := slices.BinarySearchFunc(at, at[i].Add(time.Second), func(a, b time.Time) int { return a.Compare(b) })
		worst = max(worst, j-i)
	}
	t.Logf("%d admitted in 3 s; at most %d in any 1 s window", len(at), worst)
	if worst > 50 || len(at) < 100 {
		t.Fatalf("%d admitted in one window at a limit of 50 (%d in all)", worst, len(at))
	}
}

// With Redis gone, decisions follow the failure mode without an error to the
// caller's client, the store says it is degraded, and it recovers when
// Redis returns.
func TestRedisDownFailsOpenAndRecovers(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestStore(t, r.Addr)
	failures := 0
	s.OnFailure = func(error) { failures++ }
	rule := &Rule{Key: "d.k", Window: time.Hour, RequestsPerUnit: 1}
	ctx := context.Background()
	if d, err := s.Take(ctx, rule, "k", 1); err != nil || d.Over {
		t.Fatalf("first: %+v %v", d, err)
	}
	r.Stop()
	start := time.Now()
	d, err := s.Take(ctx, rule, "k", 1)
	if !errors.Is(err, ErrRedis) || d.Over || !s.Degraded() || failures != 1 {
		t.Fatalf("with Redis down: %+v %v degraded=%v failures=%d", d, err, s.Degraded(), failures)
	}
	if took := time.Since(start); took > 4*DefaultTimeout {
		t.Fatalf("the failure took %v with a %v timeout", took, DefaultTimeout)
	}
	s.FailClosed = true
	if d, _ := s.Take(ctx, rule, "k", 1); !d.Over {
		t.Fatal("failure mode deny let the request through")
	}
	r.Start()
	waitOK := time.Now().Add(5 * time.Second)
	for {
		d, err := s.Take(ctx, rule, "k2", 1)
		if err == nil && !d.Over && !s.Degraded() {
			break
		}
		if time.Now().After(waitOK) {
			t.Fatalf("did not recover: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Through Sentinel: the store finds the master by name.
func TestStoreThroughSentinel(t *testing.T) {
	r := testenv.StartRedis(t)
	sentinel := testenv.StartSentinel(t, r.Addr)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{sentinel}, MasterName: "mymaster"})
	defer rdb.Close()
	s := NewStore(rdb)
	rule := &Rule{Key: "d.sentinel", Window: time.Hour, RequestsPerUnit: 2}
	var got []bool
	for range 3 {
		d, err := s.Take(context.Background(), rule, "k", 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Over)
	}
	if !slices.Equal(got, []bool{false, false, true}) {
		t.Fatalf("over-limit answers through Sentinel: %v", got)
	}
}

// Concurrent decisions share Redis round trips and stay exact: 640
// decisions from 64 callers at a limit of 100 admit exactly 100, in fewer
// round trips than decisions.
func TestPipelinedDecisionsStayExact(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestStore(t, r.Addr)
	s.SetPipeline(2*time.Millisecond, 32) // long enough that batches surely form
	rule := &Rule{Key: "d.piped", Window: time.Hour, RequestsPerUnit: 100}
	var allowed, answered atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 10 {
				d, err := s.Take(context.Background(), rule, "k", 1)
				if err != nil {
					t.Error(err)
					return
				}
				answered.Add(1)
				if !d.Over {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if answered.Load() != 640 || allowed.Load() != 100 {
		t.Fatalf("%d answered, %d admitted; want 640 and 100", answered.Load(), allowed.Load())
	}
	if n := s.pipe.batches.Load(); n >= 640 {
		t.Errorf("%d round trips for 640 decisions: nothing was pipelined", n)
	}
	t.Logf("640 decisions in %d round trips", s.pipe.batches.Load())
}

// takeMany sends 64 callers at a set of counters, mixed fixed and sliding
// windows with different limits, so that batches hold all kinds at once;
// every counter must admit exactly its limit.
func takeMany(t *testing.T, s *Store) {
	t.Helper()
	type counter struct {
		rule *Rule
		key  string
	}
	var counters []counter
	for i := range 24 {
		r := &Rule{Key: fmt.Sprint("d.k", i%3), Window: time.Hour, RequestsPerUnit: uint32(5 + i), Sliding: i%2 == 1}
		counters = append(counters, counter{r, fmt.Sprint("v", i)})
	}
	admitted := make([]atomic.Int64, len(counters))
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range 2 * len(counters) {
				c := (w + i) % len(counters)
				d, err := s.Take(context.Background(), counters[c].rule, counters[c].key, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Over {
					admitted[c].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for i, c := range counters {
		if got := admitted[i].Load(); got != int64(c.rule.RequestsPerUnit) {
			t.Errorf("%s %s (sliding %v): %d admitted at a limit of %d", c.rule.Key, c.key, c.rule.Sliding, got, c.rule.RequestsPerUnit)
		}
	}
}

func TestMixedBatchesStayExact(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestStore(t, r.Addr)
	s.SetPipeline(2*time.Millisecond, 32)
	takeMany(t, s)
	t.Logf("%d round trips", s.pipe.batches.Load())
}

// On a cluster each decision goes to the node of its key, fixed windows'
// counters included.
func TestStoreOnACluster(t *testing.T) {
	addrs := testenv.StartRedisCluster(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, Protocol: 2})
	defer rdb.Close()
	s := NewStore(rdb)
	takeMany(t, s)
	ctx := context.Background()
	var keys atomic.Int64 // ForEachMaster calls in parallel
	err := rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		if n == 0 {
			return fmt.Errorf("node %s holds no counter", c.Options().Addr)
		}
		keys.Add(n)
		return err
	})
	if err != nil || keys.Load() != 24 {
		t.Fatalf("%d counters across the cluster, want 24: %v", keys.Load(), err)
	}
}

// A batch that waits behind one on its way to Redis goes as soon as that
// one is back: with a window of a second, decisions sent while Redis is
// busy are answered in the time of a few round trips, not of the window.
func TestBatchGoesWhenRedisIsBack(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestStore(t, r.Addr)
	const window = time.Second
	s.SetPipeline(window, 128)
	rule := &Rule{Key: "d.gated", Window: time.Hour, RequestsPerUnit: 1000}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			if _, err := s.Take(context.Background(), rule, fmt.Sprint("k", i%8), 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took > window/4 {
		t.Errorf("64 decisions took %v with a window of %v: a batch waited out its window while Redis was idle", took, window)
	}
	if n := s.pipe.batches.Load(); n >= 64 {
		t.Errorf("%d round trips for 64 decisions: nothing was batched", n)
	}
}
