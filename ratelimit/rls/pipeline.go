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
// find no batch open opens one, waits for others to join, and sends them
// all at once, one write and one read for the lot on both sides: one
// script call on a single Redis, a pipeline of one call each on a cluster.
//
// It waits only while another batch is on its way to Redis, and only
// until that batch is back, the window at most: a decision that arrives
// when Redis is idle goes at once, so a quiet service pays no latency for
// it, and a busy one sends the next batch the moment Redis can take it
// rather than at the end of a fixed window, during which the service and
// Redis would both sit idle.
type pipeliner struct {
	rdb redis.UniversalClient
	// window is how long an open batch waits for more decisions at most;
	// the batch before it coming back, or limit, closes it early.
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
	// send is closed when the open batch should go before its window
	// ends: the batch before it came back, or it is full. p.mu guards
	// sendClosed.
	send       chan struct{}
	sendClosed bool
}

// release lets b go; p.mu is held.
func (b *batch) release() {
	if !b.sendClosed {
		b.sendClosed = true
		close(b.send)
	}
}

// call is one decision for decideScript, and its answer.
type call struct {
	key string
	// algorithm is "f" or "s", held as the argument it becomes so that
	// it is not boxed again for every call.
	algorithm any
	limit     uint32
	window    int64
	hits      uint32

	// The answer: Redis's time, and the three integers decideScript
	// returns for the decision.
	nowms, n, reset int64
	over            bool
	err             error
}

// run takes one decision, whose answer it puts in c. The round trip of
// its batch may take timeout at most; a decision waits no longer than its
// batch, or than ctx.
func (p *pipeliner) run(ctx context.Context, c *call, timeout time.Duration) error {
	p.mu.Lock()
	b := p.open
	leader := b == nil
	wait := leader && p.busy > 0 && p.window > 0
	if leader {
		b = &batch{done: make(chan struct{})}
		if wait {
			b.send = make(chan struct{})
			p.open = b // others may join while we wait
		}
	}
	b.calls = append(b.calls, c)
	if len(b.calls) >= p.limit && p.open == b {
		p.open = nil
		b.release()
	}
	p.mu.Unlock()
	if !leader {
		select {
		case <-b.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if wait {
		t := time.NewTimer(p.window)
		select {
		case <-b.send:
		case <-t.C:
		}
		t.Stop()
	}
	p.mu.Lock()
	if p.open == b {
		p.open = nil
	}
	p.busy++
	p.mu.Unlock()
	// The batch carries others' decisions: the leader's caller going away
	// must not cancel them. One deadline for the batch, not one per
	// decision: timers cost the service 5 % of its CPU.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	p.exec(ectx, b.calls)
	cancel()
	p.mu.Lock()
	p.busy--
	if p.open != nil {
		p.open.release() // Redis has room again
	}
	p.mu.Unlock()
	close(b.done)
	return c.err
}

func (p *pipeliner) exec(ctx context.Context, calls []*call) {
	p.batches.Add(1)
	groups := [][]*call{calls}
	if _, cluster := p.rdb.(*redis.ClusterClient); cluster {
		groups = make([][]*call, len(calls))
		for i := range calls {
			groups[i] = calls[i : i+1 : i+1]
		}
	}
	cmds := p.send(ctx, groups, false)
	// After a Redis restart the script is gone: send it in full again.
	var again []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		retry := make([][]*call, len(again))
		for j, i := range again {
			retry[j] = groups[i]
		}
		for j, cmd := range p.send(ctx, retry, true) {
			cmds[again[j]] = cmd
		}
	}
	for i, g := range groups {
		res, err := cmds[i].Result()
		if err == nil && len(res) != 1+3*len(g) {
			err = errors.New("short answer from the rate-limit script")
		}
		for j, c := range g {
			if c.err = err; err == nil {
				a := res[1+3*j:]
				c.nowms, c.over, c.n, c.reset = res[0], a[0] == 1, a[1], a[2]
			}
		}
	}
}

// send calls decideScript once per group, all in one pipeline; a single
// group goes as one command, without a pipeline's bookkeeping. The answer
// is read as integers, as go-redis's generic reply would box each one.
func (p *pipeliner) send(ctx context.Context, groups [][]*call, full bool) []*redis.IntSliceCmd {
	cmds := make([]*redis.IntSliceCmd, len(groups))
	var pipe redis.Pipeliner
	if len(groups) > 1 {
		pipe = p.rdb.Pipeline()
	}
	for i, g := range groups {
		args := make([]any, 3, 3+5*len(g))
		args[0], args[1], args[2] = "evalsha", decideScript.Hash(), len(g)
		if full {
			args[0], args[1] = "eval", decideSource
		}
		for _, c := range g {
			args = append(args, c.key)
		}
		for _, c := range g {
			args = append(args, c.algorithm, c.limit, c.window, c.hits)
		}
		cmds[i] = redis.NewIntSliceCmd(ctx, args...)
		cmds[i].SetFirstKeyPos(3) // a cluster routes it by its first key
		if pipe != nil {
			_ = pipe.Process(ctx, cmds[i])
		} else {
			_ = p.rdb.Process(ctx, cmds[i]) // the command carries its error
		}
	}
	if pipe != nil {
		_, _ = pipe.Exec(ctx) // each command carries its own error
	}
	return cmds
}
