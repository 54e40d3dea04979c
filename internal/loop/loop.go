package loop

import (
	"context"
	"runtime/debug"
	"time"
)

// PanicFunc is told of a recovered panic, with the goroutine's stack.
type PanicFunc func(v any, stack []byte)

// Every calls fn every interval until ctx ends. A panic in one call goes
// to onPanic, and the next call happens as planned.
func Every(ctx context.Context, interval time.Duration, onPanic PanicFunc, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		Guard(onPanic, fn)
	}
}

// Guard runs fn, handing a panic to onPanic instead of letting it end the
// goroutine.
func Guard(onPanic PanicFunc, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			onPanic(r, debug.Stack())
		}
	}()
	fn()
}
