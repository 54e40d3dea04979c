package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/state"
)

// env is a real gateway with a plan, on loopback backends. The plan manager
// does not tick by itself: tests call tick, with a clock they control.
type env struct {
	t     *testing.T
	srv   *server.Server
	store *state.Store
	e     *rollout.Engine
	url   string
	file  string
	now   time.Time
	stop  func()
}

// backend answers with its name; while fail is set, every tenth answer is
// a 500 (rarely five in a row, so passive ejection does not hide them).
func backend(t *testing.T, name string, fail *atomic.Bool) string {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		if fail != nil && fail.Load() && n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func planConfig(legacy, next, steps string) string {
	return fmt.Sprintf(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: t}
spec:
  listeners: [{address: "127.0.0.1:0"}]
  admin: {address: "127.0.0.1:0"}
  drainDelay: 0s
  backends:
  - {name: legacy, endpoints: [%s]}
  - {name: new, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 100}, {name: new, weight: 0}]
`+testenv.WebPlan+`%s`, legacy, next, steps)
}

const allSteps = `      - setHeaderRoute:
          name: preview
          match: [{headerName: x-preview, headerValue: {exact: new}}]
      - pause: {}
      - setWeight: 10
      - pause: {duration: 60s}
      - setWeight: 50
      - analysis:
          metrics:
          - name: errors
            interval: 1s
            provider:
              gateway:
                judge: {minSamples: 50, errorRate: {maxIncrease: 0.05}}
      - setWeight: 100
`

func newEnv(t *testing.T, cfg string) *env {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(cfg), 0o600)
	store, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	v := &env{t: t, store: store, file: file, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	v.start(file)
	t.Cleanup(func() { v.stop(); store.Close() })
	return v
}

func (v *env) start(file string) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, []string{file}, v.store, "token", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		v.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Gateway.Run(ctx, srv.Admin) }() // no plan ticker: the test ticks
	<-srv.Gateway.Started()
	v.srv, v.url = srv, "http://"+srv.Gateway.Addr("listener-0")
	v.e = srv.Rollouts.Get("web")
	v.e.Now = func() time.Time { return v.now }
	v.stop = func() { cancel(); <-done }
}

func (v *env) tick() { v.e.Tick(context.Background()) }

// waitState waits up to 10 s for e's state to meet cond, while the
// plan runs on its own ticker.
func waitState(t *testing.T, e *rollout.Engine, cond func(rollout.State) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(e.View().State) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, e.View().State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// analyze sends 100 requests a second, for up to seconds, while the plan
// analyzes.
func (v *env) analyze(seconds int) {
	for i := 0; i < seconds && v.state().Phase == rollout.Analyzing; i++ {
		for range 100 {
			v.get()
		}
		v.now = v.now.Add(time.Second)
		v.tick()
	}
}

func (v *env) state() rollout.State { return v.e.View().State }

func (v *env) expect(phase rollout.Phase, step, weight int) {
	v.t.Helper()
	st := v.state()
	if st.Phase != phase || st.Step != step || st.Weight != weight {
		v.t.Fatalf("state %s step %d weight %d (%s), want %s step %d weight %d", st.Phase, st.Step, st.Weight, st.Reason, phase, step, weight)
	}
	if got := v.gatewayWeight(); got != weight {
		v.t.Fatalf("the gateway sends %d%% to new, the plan says %d%%", got, weight)
	}
}

func (v *env) gatewayWeight() int {
	for _, r := range v.srv.Gateway.Status().Routes {
		if r.Name == "web" {
			return r.Backends[1].Weight
		}
	}
	return -1
}

// get returns who answered a request, with optional headers.
func (v *env) get(hdr ...string) (int, string) {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, v.url+"/", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Backend")
}

func TestPlanRunsStepByStep(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), allSteps))
	ctx := context.Background()
	v.tick()
	// Step 0 set the preview route; step 1 waits for promote.
	v.expect(rollout.Paused, 1, 0)
	if _, b := v.get("X-Preview", "new"); b != "new" {
		t.Fatalf("the preview header reached %q", b)
	}
	if _, b := v.get(); b != "legacy" {
		t.Fatalf("without the header: %q", b)
	}
	v.now = v.now.Add(time.Hour)
	v.tick()
	v.expect(rollout.Paused, 1, 0) // a step pause does not end by itself
	if err := v.e.Promote(ctx, false, false, "test", ""); err != nil {
		t.Fatal(err)
	}
	v.tick()
	v.expect(rollout.Paused, 3, 10)
	if left := v.e.View().PauseLeft; left != 60*time.Second {
		t.Fatalf("pause left %v", left)
	}
	v.now = v.now.Add(59 * time.Second)
	v.tick()
	v.expect(rollout.Paused, 3, 10)
	v.now = v.now.Add(time.Second)
	v.tick()
	v.expect(rollout.Analyzing, 5, 50)
	// Healthy traffic lets the judge pass.
	for range 400 {
		v.get()
	}
	for range 5 {
		v.now = v.now.Add(time.Second)
		v.tick()
	}
	v.expect(rollout.Completed, 7, 100)
	if st := v.srv.Gateway.Status(); len(st.Routes) != 1 {
		t.Fatalf("managed routes left after completion: %+v", st.Routes)
	}
	events, _ := v.store.Events(0, 0)
	var actions []string
	for _, ev := range events {
		if strings.HasPrefix(ev.Action, "rollout.") {
			actions = append(actions, strings.TrimPrefix(ev.Action, "rollout."))
		}
	}
	want := "started setHeaderRoute paused step setWeight paused step setWeight analyzing step setWeight completed"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit log:\n%s\nwant\n%s", strings.Join(actions, " "), want)
	}
}

func TestFailingAnalysisAborts(t *testing.T) {
	var fail atomic.Bool
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", &fail), `      - setWeight: 50
      - analysis:
          metrics:
          - name: errors
            interval: 1s
            provider:
              gateway:
                judge: {minSamples: 50, errorRate: {maxIncrease: 0.05}}
      - setWeight: 100
`))
	v.tick()
	v.expect(rollout.Analyzing, 1, 50)
	fail.Store(true)
	v.analyze(60)
	v.expect(rollout.Aborted, 1, 0)
	metrics := scrape(t, v.srv)
	if !regexp.MustCompile(`cutover_analysis_verdict_total\{metric="errors",rollout="web",verdict="Failed"\} 1`).MatchString(metrics) ||
		!regexp.MustCompile(`cutover_analysis_verdict_total\{metric="errors",rollout="web",verdict="Pending"\} \d+`).MatchString(metrics) {
		t.Fatalf("verdict metrics:\n%s", metrics)
	}
	if r := v.state().Reason; !strings.Contains(r, "analysis failed: errors Failed") || !strings.Contains(r, "canary 10.") {
		t.Fatalf("abort reason %q", r)
	}
	for range 20 {
		if code, b := v.get(); code != 200 || b != "legacy" {
			t.Fatalf("after the abort: %d from %q", code, b)
		}
	}
}

func TestTooLittleTrafficPausesInconclusive(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), `      - setWeight: 10
      - analysis:
          metrics:
          - name: errors
            interval: 1s
            count: 3
            provider:
              gateway:
                judge: {minSamples: 1000, errorRate: {maxIncrease: 0.01}}
      - setWeight: 100
`))
	v.tick()
	for range 3 {
		v.get()
		v.now = v.now.Add(time.Second)
		v.tick()
	}
	st := v.state()
	if st.Phase != rollout.Paused || st.PauseKind != rollout.PauseInconclusive || !strings.Contains(st.Reason, "too little traffic") {
		t.Fatalf("state %s/%s: %s", st.Phase, st.PauseKind, st.Reason)
	}
	if st.Weight != 10 {
		t.Fatalf("an inconclusive analysis moved the weight to %d", st.Weight)
	}
}

// Every command in every state: allowed ones change the state as they
// should; refused ones say why and change nothing.
func TestCommandsInEveryState(t *testing.T) {
	ctx := context.Background()
	type check struct {
		cmd     string
		allowed bool
		phase   rollout.Phase // after, when allowed
	}
	setups := map[string]func(v *env){
		"Paused(step)": func(v *env) { v.tick() },
		"Paused(timed)": func(v *env) {
			v.tick()
			v.e.Promote(ctx, false, false, "t", "")
			v.tick()
		},
		"Paused(manual)": func(v *env) {
			v.tick()
			v.e.Promote(ctx, false, false, "t", "")
			v.tick()
			v.e.Pause(ctx, "t", "")
		},
		"Analyzing": func(v *env) {
			v.tick()
			v.e.Rollback(ctx, 5, "t", "")
			v.tick()
		},
		"Completed": func(v *env) {
			v.tick()
			v.e.Promote(ctx, true, false, "t", "")
		},
		"Aborted": func(v *env) {
			v.tick()
			v.e.Abort(ctx, "t", "")
		},
	}
	table := map[string][]check{
		"Paused(step)":   {{"promote", true, rollout.Progressing}, {"resume", false, ""}, {"pause", false, ""}, {"retry", false, ""}, {"abort", true, rollout.Aborted}, {"promote-full", true, rollout.Completed}, {"rollback", true, rollout.Progressing}},
		"Paused(timed)":  {{"promote", true, rollout.Progressing}, {"pause", true, rollout.Paused}, {"resume", false, ""}, {"retry", false, ""}, {"abort", true, rollout.Aborted}},
		"Paused(manual)": {{"resume", true, rollout.Paused}, {"pause", false, ""}, {"retry", false, ""}, {"promote", true, rollout.Progressing}, {"abort", true, rollout.Aborted}},
		"Analyzing":      {{"pause", true, rollout.Paused}, {"resume", false, ""}, {"retry", false, ""}, {"promote", true, rollout.Progressing}, {"abort", true, rollout.Aborted}},
		"Completed":      {{"promote", false, ""}, {"promote-full", false, ""}, {"abort", false, ""}, {"retry", false, ""}, {"pause", false, ""}, {"resume", false, ""}, {"rollback", true, rollout.Progressing}},
		"Aborted":        {{"promote", false, ""}, {"abort", false, ""}, {"pause", false, ""}, {"resume", false, ""}, {"retry", true, rollout.Progressing}, {"rollback", true, rollout.Progressing}},
	}
	legacy, next := backend(t, "legacy", nil), backend(t, "new", nil)
	for name, checks := range table {
		for _, c := range checks {
			t.Run(name+"/"+c.cmd, func(t *testing.T) {
				v := newEnv(t, planConfig(legacy, next, allSteps))
				setups[name](v)
				before := v.state()
				var err error
				switch c.cmd {
				case "promote":
					err = v.e.Promote(ctx, false, false, "t", "")
				case "promote-full":
					err = v.e.Promote(ctx, true, false, "t", "")
				case "abort":
					err = v.e.Abort(ctx, "t", "")
				case "retry":
					err = v.e.Retry(ctx, "t", "")
				case "pause":
					err = v.e.Pause(ctx, "t", "")
				case "resume":
					err = v.e.Resume(ctx, "t", "")
				case "rollback":
					err = v.e.Rollback(ctx, 2, "t", "")
				}
				after := v.state()
				var ce *rollout.CommandError
				if !c.allowed {
					if !errors.As(err, &ce) || ce.Msg == "" {
						t.Fatalf("%s in %s: %v, want a refusal", c.cmd, name, err)
					}
					if after.Phase != before.Phase || after.Step != before.Step || after.Weight != before.Weight || !after.Updated.Equal(before.Updated) {
						t.Fatalf("a refused %s changed the state: %+v -> %+v", c.cmd, before, after)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s in %s: %v", c.cmd, name, err)
				}
				if after.Phase != c.phase {
					t.Fatalf("%s in %s: phase %s, want %s", c.cmd, name, after.Phase, c.phase)
				}
				if got := v.gatewayWeight(); got != after.Weight {
					t.Fatalf("after %s the gateway sends %d%%, the plan says %d%%", c.cmd, got, after.Weight)
				}
			})
		}
	}
}

func TestPromoteFullRefusesUnhealthyCanary(t *testing.T) {
	legacy := backend(t, "legacy", nil)
	v := newEnv(t, strings.Replace(planConfig(legacy, "http://127.0.0.1:1", allSteps),
		"{name: new, endpoints: [http://127.0.0.1:1]}", "{name: new, endpoints: [http://127.0.0.1:1], passive: {consecutiveFailures: 1, ejectionTime: 1m}}", 1))
	v.tick()
	v.get("X-Preview", "new") // the canary fails and is ejected
	err := v.e.Promote(context.Background(), true, false, "t", "")
	if err == nil || !strings.Contains(err.Error(), "canary is not healthy") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("promote --full with a dead canary: %v", err)
	}
	v.expect(rollout.Paused, 1, 0)
	if err := v.e.Promote(context.Background(), true, true, "t", "forced"); err != nil {
		t.Fatal(err)
	}
	v.expect(rollout.Completed, 7, 100)
}

// A restart resumes where the plan was, and a timed pause keeps the time
// it had left, not the wall-clock time.
func TestRestartResumesPlan(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), allSteps))
	ctx := context.Background()
	v.tick()
	v.e.Promote(ctx, false, false, "t", "")
	v.tick()
	v.now = v.now.Add(20 * time.Second)
	v.tick() // checkpoints 40 s left
	v.expect(rollout.Paused, 3, 10)
	v.stop()

	file := v.srv.Gateway.Config().File
	last, _ := v.store.LastEvents(1)
	v.now = v.now.Add(2 * time.Hour) // down for two hours
	v.start(file)
	v.tick()
	v.expect(rollout.Paused, 3, 10)
	if left := v.e.View().PauseLeft; left != 40*time.Second {
		t.Fatalf("after restart %v left in the pause, want 40s", left)
	}
	if _, b := v.get("X-Preview", "new"); b != "new" {
		t.Fatalf("the preview route did not survive the restart: %q", b)
	}
	// The route stayed in place all along: the restart neither removed nor
	// set it again, and neither does a rollback to a step after it.
	if err := v.e.Rollback(ctx, 2, "t", ""); err != nil {
		t.Fatal(err)
	}
	v.expect(rollout.Progressing, 2, 0)
	events, _ := v.store.Events(last[0].Seq, 100)
	for _, ev := range events {
		if strings.HasPrefix(ev.Action, "managed-route") {
			t.Errorf("after the restart: %s %s (%s)", ev.Action, ev.Target, ev.Reason)
		}
	}
	// A rollback to before the route was set takes it away.
	if err := v.e.Rollback(ctx, 0, "t", ""); err != nil {
		t.Fatal(err)
	}
	if _, b := v.get("X-Preview", "new"); b != "legacy" {
		t.Fatalf("after a rollback to step 0 the preview route still sends to %q", b)
	}
}

// Under steady load through a whole plan, aborted in the middle and retried
// to the end, the client sees no error the backends did not send.
func TestNoFailedRequestThroughAPlanWithAnAbort(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(planConfig(backend(t, "legacy", nil), backend(t, "new", nil), `      - setHeaderRoute: {name: preview, match: [{headerName: x-preview, headerValue: {exact: new}}]}
      - setWeight: 10
      - pause: {duration: 300ms}
      - setWeight: 34
      - pause: {duration: 300ms}
      - setWeight: 67
      - pause: {duration: 300ms}
      - setWeight: 100
`)), 0o600)
	srv, url := serving(t, file)
	l := startLoad(url, func(i int, req *http.Request) {
		if i%4 == 0 {
			req.Header.Set("X-Preview", "new")
		}
	})

	e := srv.Rollouts.Get("web")
	waitState(t, e, func(s rollout.State) bool { return s.Weight == 34 }, "weight 34")
	if err := e.Abort(context.Background(), "test", "mid-plan abort"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := e.Retry(context.Background(), "test", ""); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, func(s rollout.State) bool { return s.Phase == rollout.Completed }, "completion")
	time.Sleep(300 * time.Millisecond)
	bad, firstBad := l.stop()
	ok := l.count("legacy") + l.count("new")
	t.Logf("%d requests answered 200 through the plan, the abort and the retry", ok)
	if bad != 0 {
		t.Fatalf("%d requests failed (first: %v)", bad, firstBad)
	}
	if ok < 1000 {
		t.Fatalf("only %d requests ran", ok)
	}
}

// serving runs the config in file with its plans ticking every 20 ms, until
// the test ends, and returns the server and the listener's URL.
func serving(t *testing.T, file string) (*server.Server, string) {
	t.Helper()
	store, err := state.Open(filepath.Join(filepath.Dir(file), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, []string{file}, store, "token", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv.Rollouts.TickInterval = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-srv.Gateway.Started()
	return srv, "http://" + srv.Gateway.Addr("listener-0") + "/"
}

// load is 32 clients sending requests until stopped (20 s at most),
// counting the 200s by the backend that answered and everything else as
// a failure.
type load struct {
	stopLoad context.CancelFunc
	done     chan struct{}
	bad      atomic.Int64
	firstBad atomic.Value
	mu       sync.Mutex
	answered map[string]int
}

// startLoad starts the clients; prepare, if not nil, adjusts client i's
// requests.
func startLoad(url string, prepare func(i int, req *http.Request)) *load {
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	l := &load{stopLoad: stop, done: make(chan struct{}), answered: map[string]int{}}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	go func() {
		defer close(l.done)
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					if prepare != nil {
						prepare(i, req)
					}
					resp, err := client.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							l.bad.Add(1)
							l.firstBad.CompareAndSwap(nil, err.Error())
						}
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						l.bad.Add(1)
						l.firstBad.CompareAndSwap(nil, resp.Status+" "+resp.Header.Get("X-Cutover-Reason"))
						continue
					}
					l.mu.Lock()
					l.answered[resp.Header.Get("X-Backend")]++
					l.mu.Unlock()
				}
			})
		}
		wg.Wait()
	}()
	return l
}

// count is how many 200s backend has answered so far.
func (l *load) count(backend string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered[backend]
}

// stop ends the load and returns the failures and the first of them.
func (l *load) stop() (int64, any) {
	l.stopLoad()
	<-l.done
	return l.bad.Load(), l.firstBad.Load()
}

func scrape(t *testing.T, srv *server.Server) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Gateway.Addr("admin")+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// replica is a gateway without a plan, driven by another one's plan.
func replica(t *testing.T, legacy, next string) (admin, tokenFile, url string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	cfg := planConfig(legacy, next, "")
	cfg = cfg[:strings.Index(cfg, "---")]
	os.WriteFile(file, []byte(cfg), 0o600)
	store, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	token, _ := state.LoadOrCreateToken(filepath.Join(dir, "state"))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, []string{file}, store, token, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Gateway.Started()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return "http://" + srv.Gateway.Addr("admin"), filepath.Join(dir, "state", state.TokenFile), "http://" + srv.Gateway.Addr("listener-0")
}

// A plan with remote gateways moves them in step with its own, and an
// abort brings all of them back.
func TestPlanDrivesRemoteReplicas(t *testing.T) {
	legacy, next := backend(t, "legacy", nil), backend(t, "new", nil)
	adminB, tokenB, urlB := replica(t, legacy, next)
	adminC, tokenC, urlC := replica(t, legacy, next)
	cfg := planConfig(legacy, next, `      - setHeaderRoute: {name: preview, match: [{headerName: x-preview, headerValue: {exact: new}}]}
      - setWeight: 34
      - pause: {}
      - setWeight: 100
`)
	cfg = strings.Replace(cfg, "  route: web\n", fmt.Sprintf("  route: web\n  remoteGateways:\n  - {admin: %q, tokenFile: %q}\n  - {admin: %q, tokenFile: %q}\n", adminB, tokenB, adminC, tokenC), 1)
	v := newEnv(t, cfg)
	if typ := v.e.View().Router; typ != "Gateway+RemoteGateway+RemoteGateway" {
		t.Fatalf("router %q", typ)
	}
	v.tick()
	v.expect(rollout.Paused, 2, 34)
	split := func(url string, hdr ...string) map[string]int {
		counts := map[string]int{}
		for range 100 {
			req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			counts[resp.Header.Get("X-Backend")]++
		}
		return counts
	}
	for _, url := range []string{v.url, urlB, urlC} {
		if c := split(url); c["new"] != 34 {
			t.Fatalf("%s splits %v at step 2", url, c)
		}
		if c := split(url, "X-Preview", "new"); c["new"] != 100 {
			t.Fatalf("%s: the preview header reached %v", url, c)
		}
	}
	// A rollback to step 1 keeps the preview route on every replica.
	if err := v.e.Rollback(context.Background(), 1, "test", ""); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{v.url, urlB, urlC} {
		if c := split(url); c["legacy"] != 100 {
			t.Fatalf("%s splits %v after the rollback to step 1", url, c)
		}
		if c := split(url, "X-Preview", "new"); c["new"] != 100 {
			t.Fatalf("%s: after the rollback the preview header reached %v", url, c)
		}
	}
	if err := v.e.Abort(context.Background(), "test", ""); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{v.url, urlB, urlC} {
		if c := split(url, "X-Preview", "new"); c["legacy"] != 100 {
			t.Fatalf("%s after the abort: %v", url, c)
		}
	}
}

func TestPromoteFullRefusesFailingAnalysis(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), `      - setWeight: 20
      - analysis:
          metrics:
          - name: rate
            interval: 1s
            count: 10
            failureLimit: 5
            successCondition: result[0] > 1000
            provider: {gateway: {value: requests}}
      - setWeight: 100
`))
	v.tick()
	v.now = v.now.Add(time.Second)
	v.tick()
	err := v.e.Promote(context.Background(), true, false, "t", "")
	if err == nil || !strings.Contains(err.Error(), "analysis is failing: rate failed its last measurement") {
		t.Fatalf("promote --full during a failing analysis: %v", err)
	}
	v.expect(rollout.Analyzing, 1, 20)
}

// A canary without steps promotes straight to 100 %, as Argo's does.
func TestCanaryWithoutStepsPromotesAtOnce(t *testing.T) {
	legacy, next := backend(t, "legacy", nil), backend(t, "new", nil)
	v := newEnv(t, strings.Replace(planConfig(legacy, next, ""), "      steps:\n", "", 1))
	v.tick()
	v.expect(rollout.Completed, 0, 100)
	if _, who := v.get(); who != "new" {
		t.Fatalf("a request after completion answered by %s", who)
	}
}
