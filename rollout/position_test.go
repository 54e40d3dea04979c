package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/prometheus"
	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/traffic/gatewayrouter"
)

// Two promotes at a `pause: {}` skip the next setWeight step but never the
// traffic it implies: the plan stands after it, at its weight.
func TestPromoteTwiceKeepsTheTrafficOfTheSkippedStep(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), allSteps))
	ctx := context.Background()
	v.tick()
	v.expect(rollout.Paused, 1, 0)
	for range 2 {
		if err := v.e.Promote(ctx, false, false, "t", ""); err != nil {
			t.Fatal(err)
		}
	}
	// Step 2 (setWeight 10) was skipped; step 3 is after it.
	v.expect(rollout.Progressing, 3, 10)
	v.tick()
	v.expect(rollout.Paused, 3, 10)
}

// plannedWeight is the canary weight allSteps implies at a step: the last
// setWeight before it (the steps are: setHeaderRoute, pause, setWeight 10,
// pause 60s, setWeight 50, analysis, setWeight 100).
func plannedWeight(step int) int {
	switch {
	case step <= 2:
		return 0
	case step <= 4:
		return 10
	case step <= 6:
		return 50
	}
	return 100
}

// Whatever sequence of commands and ticks brings the plan to a position,
// the gateway carries the traffic that position implies.
func TestRouterFollowsPlanPosition(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), allSteps))
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	commands := []string{"tick", "tick", "wait", "promote", "promote", "promote-full", "abort", "retry", "pause", "resume", "rollback", "restart"}
	var trail []string
	for i := range 400 {
		cmd := commands[rng.IntN(len(commands))]
		var err error
		switch cmd {
		case "tick":
			v.tick()
		case "wait":
			v.now = v.now.Add(time.Duration(rng.IntN(90)) * time.Second)
			v.tick()
		case "promote":
			err = v.e.Promote(ctx, false, false, "t", "")
		case "promote-full":
			err = v.e.Promote(ctx, true, true, "t", "")
		case "abort":
			err = v.e.Abort(ctx, "t", "")
		case "retry":
			err = v.e.Retry(ctx, "t", "")
		case "pause":
			err = v.e.Pause(ctx, "t", "")
		case "resume":
			err = v.e.Resume(ctx, "t", "")
		case "rollback":
			n := rng.IntN(7)
			cmd = fmt.Sprintf("rollback %d", n)
			err = v.e.Rollback(ctx, n, "t", "")
		case "restart":
			v.stop()
			v.start(v.file)
		}
		var ce *rollout.CommandError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("%s: %v", cmd, err)
		}
		trail = append(trail, cmd)
		st := v.state()
		want := plannedWeight(st.Step)
		switch st.Phase {
		case rollout.Completed:
			want = 100
		case rollout.Aborted:
			want = 0
		case rollout.Degraded:
			t.Fatalf("after %v: Degraded: %s", trail, st.Reason)
		}
		if st.Weight != want || v.gatewayWeight() != want {
			t.Fatalf("command %d, after %v: %s step %d: plan weight %d, gateway %d, the position implies %d",
				i, trail[max(0, len(trail)-8):], st.Phase, st.Step, st.Weight, v.gatewayWeight(), want)
		}
		_, by := v.get("X-Preview", "new")
		wantPreview := st.Step >= 1 && st.Phase != rollout.Completed && st.Phase != rollout.Aborted
		if (by == "new") != wantPreview && want != 100 && want != 0 {
			t.Fatalf("command %d, after %v: %s step %d: the preview header reached %s", i, trail[max(0, len(trail)-8):], st.Phase, st.Step, by)
		}
	}
}

// failingStore is the real state store with a switch that makes every
// write fail, as a full disk does.
type failingStore struct {
	rollout.Store
	fail bool
}

var errDiskFull = errors.New("write state.db: no space left on device")

func (s *failingStore) Transition(name string, st *rollout.State, ev state.Event) error {
	if s.fail {
		return errDiskFull
	}
	return s.Store.Transition(name, st, ev)
}

func (s *failingStore) Checkpoint(name string, st *rollout.State) error {
	if s.fail {
		return errDiskFull
	}
	return s.Store.Checkpoint(name, st)
}

// With a store that cannot write, every command fails with the reason and
// changes nothing, except abort: the traffic goes back to stable and the
// store's error is reported.
func TestStoreFailuresAreNotSwallowed(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), allSteps))
	ctx := context.Background()
	cfg := v.srv.Gateway.Config()
	plan := rollout.NewPlan(cfg, cfg.Rollouts[0])
	store := &failingStore{Store: rollout.BoltStore(v.store)}
	router := gatewayrouter.New(v.srv.Gateway, plan.Route, plan.Stable, plan.Canary, "rollout/web")
	e, err := rollout.NewEngine(plan, router, analysis.ProviderSet{}, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.Now = func() time.Time { return v.now }
	e.Tick(ctx)
	if err := e.Promote(ctx, false, false, "t", ""); err != nil { // to setWeight 10
		t.Fatal(err)
	}
	e.Tick(ctx)
	if st := e.View().State; st.Step != 3 || v.gatewayWeight() != 10 {
		t.Fatalf("before the disk filled: step %d, gateway %d%%", st.Step, v.gatewayWeight())
	}
	store.fail = true
	before := e.View().State
	for name, cmd := range map[string]func() error{
		"promote":      func() error { return e.Promote(ctx, false, false, "t", "") },
		"promote-full": func() error { return e.Promote(ctx, true, true, "t", "") },
		"pause":        func() error { return e.Pause(ctx, "t", "") },
		"rollback":     func() error { return e.Rollback(ctx, 0, "t", "") },
	} {
		err := cmd()
		if !errors.Is(err, errDiskFull) {
			t.Errorf("%s on a full disk: %v, want the store's error", name, err)
		}
		if st := e.View().State; st.Phase != before.Phase || st.Step != before.Step || st.Weight != before.Weight {
			t.Errorf("%s on a full disk changed the plan: %s step %d weight %d", name, st.Phase, st.Step, st.Weight)
		}
		if w := v.gatewayWeight(); w != 10 {
			t.Errorf("%s on a full disk moved the traffic to %d%%", name, w)
		}
	}
	v.now = v.now.Add(2 * time.Minute) // the timed pause is over, but cannot be stored
	e.Tick(ctx)
	if st := e.View().State; st.Step != 3 {
		t.Errorf("a tick on a full disk moved to step %d", st.Step)
	}
	err = e.Abort(ctx, "t", "")
	if !errors.Is(err, errDiskFull) {
		t.Errorf("abort on a full disk: %v, want the store's error", err)
	}
	if w := v.gatewayWeight(); w != 0 {
		t.Errorf("abort on a full disk left %d%% on the canary", w)
	}
}

// An abort takes effect at once while an analysis query hangs: the engine
// does not hold the plan behind the query's timeout.
func TestAbortDoesNotWaitForAHangingQuery(t *testing.T) {
	silent := make(chan struct{})
	defer close(silent)
	hangs := testenv.TCPServer(t, func(c net.Conn) {
		<-silent // accepted, never answered
		c.Close()
	})
	const queryTimeout = 20 * time.Second
	steps := fmt.Sprintf(`      - setWeight: 20
      - analysis:
          metrics:
          - name: hangs
            interval: 1s
            successCondition: "result[0] < 1"
            provider:
              prometheus: {address: "http://%s", query: "up", timeout: %s}
`, hangs, queryTimeout)
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), steps))
	cfg := v.srv.Gateway.Config()
	plan := rollout.NewPlan(cfg, cfg.Rollouts[0])
	router := gatewayrouter.New(v.srv.Gateway, plan.Route, plan.Stable, plan.Canary, "rollout/web")
	e, err := rollout.NewEngine(plan, router, analysis.ProviderSet{Prometheus: prometheus.Provider{}}, rollout.BoltStore(v.store), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ticked := make(chan struct{})
	// setWeight 20, then the analysis starts and hangs in its first query.
	go func() { e.Tick(context.Background()); close(ticked) }()
	waitUntil(t, "the analysis to start", func() bool { return e.View().State.Phase == rollout.Analyzing })
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := e.Abort(context.Background(), "t", ""); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	select {
	case <-ticked:
	default:
		t.Errorf("the tick still waits for its query after the abort")
	}
	if took > queryTimeout/20 {
		t.Errorf("abort took %v behind a query with a %v timeout", took, queryTimeout)
	}
	if st := e.View().State; st.Phase != rollout.Aborted || v.gatewayWeight() != 0 {
		t.Errorf("after abort: %s, gateway %d%%", st.Phase, v.gatewayWeight())
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
