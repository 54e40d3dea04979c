package rls

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// pipeliner sends concurrent decisions to Redis together, as
// envoyproxy/ratelimit's REDIS_PIPELINE_WINDOW does: the first decision to
// find no batch open opens one, waits the window for others to join, and
// sends them all as one pipeline, one write and one read for the lot on
// both sides. Each decision is still its own script, atomic on Redis.
//
// It waits only while another batch is on its way to Redis: a decision
// that arrives when Redis is idle goes at once, so a quiet service pays no
// latency for it.
type pipeliner struct {
	rdb redis.UniversalClient
	// window is how long an open batch waits for more decisions; limit
	// closes it early.
	window time.Duration
	limit  int

	mu   sync.Mutex
	open *batch
	busy int // batches being sent

	// batches counts round trips, for tests.
	batches atomic.Int64
}

type batch struct {
	calls []*call
	done  chan struct{}
}

type call struct {
	script *redis.Script
	keys   []string
	args   []any
	res    []int64
	err    error
}

// run carries out one decision's script and returns its answer.
func (p *pipeliner) run(ctx context.Context, script *redis.Script, keys []string, args ...any) ([]int64, error) {
	c := &call{script: script, keys: keys, args: args}
	p.mu.Lock()
	b := p.open
	leader := b == nil
	wait := leader && p.busy > 0 && p.window > 0
	if leader {
		b = &batch{done: make(chan struct{})}
		if wait {
			p.open = b // others may join while we wait
		}
	}
	b.calls = append(b.calls, c)
	if len(b.calls) >= p.limit && p.open == b {
		p.open = nil
	}
	p.mu.Unlock()
	if !leader {
		select {
		case <-b.done:
			return c.res, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if wait {
		time.Sleep(p.window)
	}
	p.mu.Lock()
	if p.open == b {
		p.open = nil
	}
	p.busy++
	p.mu.Unlock()
	// The batch carries others' decisions: the leader's caller going away
	// must not cancel them, but its deadline (the store's timeout) holds.
	ectx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ectx, cancel = context.WithDeadline(ectx, d)
		defer cancel()
	}
	p.exec(ectx, b.calls)
	p.mu.Lock()
	p.busy--
	p.mu.Unlock()
	close(b.done)
	return c.res, c.err
}

func (p *pipeliner) exec(ctx context.Context, calls []*call) {
	p.batches.Add(1)
	cmds := p.send(ctx, calls, false)
	// After a Redis restart the scripts are gone: send those in full again.
	var again []int
	for i := range calls {
		if err := cmds[i].Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		retry := make([]*call, len(again))
		for j, i := range again {
			retry[j] = calls[i]
		}
		for j, cmd := range p.send(ctx, retry, true) {
			cmds[again[j]] = cmd
		}
	}
	for i, c := range calls {
		c.res, c.err = cmds[i].Int64Slice()
		if c.err == nil && len(c.res) < 4 {
			c.err = errors.New("short answer from the rate-limit script")
		}
	}
}

func (p *pipeliner) send(ctx context.Context, calls []*call, full bool) []*redis.Cmd {
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		if full {
			cmds[i] = c.script.Eval(ctx, pipe, c.keys, c.args...)
		} else {
			cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	return cmds
}
