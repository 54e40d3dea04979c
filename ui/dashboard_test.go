package ui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/state"
)

// site is `cutover serve` with a plan on two loopback backends, under a
// steady load whose answers are counted by backend.
type site struct {
	srv   *server.Server
	admin string
	token string
	url   string

	mu      sync.Mutex
	answers map[string]int
	failed  atomic.Int64
}

const plan = `apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: shop}
spec:
  listeners: [{address: "127.0.0.1:0"}]
  admin: {address: "127.0.0.1:0"}
  drainDelay: 0s
  backends:
  - {name: legacy, version: v1, endpoints: [%s]}
  - {name: new, version: v2, endpoints: [%s]}
  - {name: shadow, version: v3, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 100}, {name: new, weight: 0}]
    mirror: {backend: shadow, percent: 10, compare: {status: true, body: true}}
---
apiVersion: cutover.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  route: web
  strategy:
    canary:
      stableService: legacy
      canaryService: new
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 60
      - pause: {}
      - setWeight: 100
`

func startSite(t *testing.T) *site {
	t.Helper()
	backend := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			time.Sleep(time.Millisecond)
			fmt.Fprint(w, name)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(plan, backend("legacy"), backend("new"), backend("shadow"))), 0o600)
	store, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, []string{file}, store, "the-admin-token", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Rollouts.TickInterval = 100 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Gateway.Started()
	s := &site{srv: srv, admin: "http://" + srv.Gateway.Addr("admin"), token: "the-admin-token", url: "http://" + srv.Gateway.Addr("listener-0"), answers: map[string]int{}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.load(loadCtx) })
	t.Cleanup(func() { stopLoad(); wg.Wait(); cancel(); <-done; store.Close() })
	return s
}

// load sends requests until ctx ends, about 200 a second, each one
// counted by the backend that answered.
func (s *site) load(ctx context.Context) {
	client := &http.Client{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		resp, err := client.Get(s.url + "/")
		if err != nil {
			s.failed.Add(1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.mu.Lock()
		if resp.StatusCode != 200 {
			s.failed.Add(1)
		}
		s.answers[resp.Header.Get("X-Backend")]++
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// share counts the backends' answers to n requests from now on.
func (s *site) share(t *testing.T, n int) map[string]int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	out := map[string]int{}
	for range n {
		resp, err := client.Get(s.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out[resp.Header.Get("X-Backend")]++
	}
	return out
}

func browser(t *testing.T) context.Context {
	t.Helper()
	chromium := testenv.Binary(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	// What the page writes to its console goes to the test's log.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			t.Log("browser console:", m)
		}
	}()
	return ctx
}

// waitJS waits until the expression is true in the page.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))
}

// do runs steps, for at most 30 seconds.
func do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// pageText is what the page shows, for a failure's message.
func pageText(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(the page could not be read: " + err.Error() + ")"
	}
	return s
}

func text(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q) || {}).textContent`, sel)
}

// screenshot saves the page to the test's temp directory, and also to
// path when it is not "".
func screenshot(t *testing.T, ctx context.Context, name, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	os.WriteFile(filepath.Join(t.TempDir(), name), png, 0o644)
	if path != "" {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func confirm() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
	)
}

// TestDashboardSteersAPlan logs in, watches the split, the plan and the
// charts fill, promotes and aborts from the page, and checks each change
// in the page and in the gateway's answers.
func TestDashboardSteersAPlan(t *testing.T) {
	s := startSite(t)
	ctx := browser(t)

	err := do(ctx,
		chromedp.Navigate(s.admin+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), s.token),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-route="web"]`)),
		waitJS(`document.querySelector('[data-route="web"] .split.configured').getAttribute('aria-label') === 'legacy 80%, new 20%'`),
	)
	if err != nil {
		t.Fatalf("login and overview: %v\n%s", err, pageText(ctx))
	}
	screenshot(t, ctx, "overview.png", "")

	err = do(ctx,
		chromedp.Navigate(s.admin+"/ui/#/rollout/web"),
		waitJS(text("#phase")+` === 'Paused' && `+text("#step")+` === '1'`),
		waitJS(`document.querySelector('li.current[data-step="1"]') !== null`),
		// The charts fill with live traffic: both backends answered.
		waitJS(`Number((document.querySelector('.chart[data-backend="legacy"]') || {getAttribute(){return 0}}).getAttribute('data-requests')) > 50`),
		waitJS(`Number((document.querySelector('.chart[data-backend="new"]') || {getAttribute(){return 0}}).getAttribute('data-requests')) > 5`),
		waitJS(`document.querySelectorAll('.chart canvas').length >= 6`),
	)
	if err != nil {
		t.Fatalf("rollout page: %v", err)
	}
	screenshot(t, ctx, "rollout-paused.png", "")

	// Promote from the page: the step advances, the weights change.
	err = do(ctx,
		chromedp.Click(chromedp.CSS(`[data-action="promote"]`)),
		confirm(),
		waitJS(`document.querySelector('#answer').getAttribute('data-status') === '200'`),
		waitJS(text("#step")+` === '3' && `+text("#weight")+` === '60%'`),
		waitJS(`document.querySelector('[data-route="web"] .split.configured').getAttribute('aria-label') === 'legacy 40%, new 60%'`),
	)
	if err != nil {
		t.Fatalf("promote: %v", err)
	}
	// The load shares the gateway's schedule, so these 200 are a sample
	// of a 60/40 split, not exactly 120 and 80.
	if got := s.share(t, 200); got["new"] < 100 || got["new"] > 140 || got["new"]+got["legacy"] != 200 {
		t.Fatalf("after promote the gateway answers %v, want about 120 new and 80 legacy", got)
	}
	time.Sleep(3 * time.Second) // the charts show the step
	docs := ""
	if os.Getenv("CUTOVER_UPDATE_DOCS") != "" {
		docs = filepath.Join("..", "docs", "dashboard-rollout.png")
	}
	screenshot(t, ctx, "rollout-promoted.png", docs)

	// Promote fully is refused while... nothing is wrong here: instead,
	// abort, and all traffic is back on stable.
	err = do(ctx,
		chromedp.Click(chromedp.CSS(`[data-action="abort"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reason")),
		chromedp.SendKeys(chromedp.CSS("#confirm-reason"), "checkout errors"),
		confirm(),
		waitJS(text("#phase")+` === 'Aborted' && `+text("#weight")+` === '0%'`),
		waitJS(`(`+text("#reason")+` || '').includes('checkout errors')`),
	)
	if err != nil {
		t.Fatalf("abort: %v", err)
	}
	if got := s.share(t, 50); got["legacy"] != 50 {
		t.Fatalf("after abort the gateway answers %v, want all 50 from legacy", got)
	}
	// A command the plan refuses shows the refusal and its reason.
	err = do(ctx,
		chromedp.Click(chromedp.CSS(`[data-action="promote"]`)),
		confirm(),
		waitJS(`document.querySelector('#answer').getAttribute('data-status') === '409'`),
		waitJS(`document.querySelector('#answer').textContent.includes('aborted')`),
	)
	if err != nil {
		t.Fatalf("refused promote: %v", err)
	}
	screenshot(t, ctx, "rollout-aborted.png", "")
	if n := s.failed.Load(); n != 0 {
		t.Errorf("%d requests of the load failed", n)
	}

	// The mirror's differing pairs, side by side: the shadow answers with
	// another body and another X-Backend.
	err = do(ctx,
		chromedp.Navigate(s.admin+"/ui/#/diffs"),
		waitJS(`document.querySelectorAll('.diff').length > 0`),
		waitJS(`document.querySelector('.diff').textContent.includes('differs in body') && document.querySelector('.diff').textContent.includes('≠ X-Backend') && document.querySelector('.diff').textContent.includes('body sha256')`),
	)
	if err != nil {
		t.Fatalf("diffs: %v\n%s", err, pageText(ctx))
	}
	screenshot(t, ctx, "diffs.png", "")

	// The events page shows the audit log with the dashboard as actor.
	err = do(ctx,
		chromedp.Navigate(s.admin+"/ui/#/events"),
		waitJS(`[...document.querySelectorAll('#events tr')].some((r) => r.textContent.includes('rollout.aborted') && r.textContent.includes('dashboard'))`),
	)
	if err != nil {
		t.Fatalf("events: %v\n%s", err, pageText(ctx))
	}
}

func TestDashboardWrongTokenShowsLogin(t *testing.T) {
	s := startSite(t)
	ctx := browser(t)
	err := do(ctx,
		chromedp.Navigate(s.admin+"/ui/#token=not-the-token"),
		waitJS(text("#login-error")+` === 'Wrong token.'`),
	)
	if err != nil {
		t.Fatal(err)
	}
	loginVisible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector('#login').hidden`))
	if err != nil {
		t.Fatal(err)
	}
	viewHidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#view').hidden && document.querySelector('#view').childElementCount === 0`))
	if err != nil {
		t.Fatal(err)
	}
	if !loginVisible || !viewHidden {
		t.Fatalf("login form shown %v, data hidden %v", loginVisible, viewHidden)
	}
	// The right token from the fragment logs in, and is gone from the URL.
	err = do(ctx,
		chromedp.Navigate(s.admin+"/ui/#token="+s.token),
		chromedp.WaitVisible(chromedp.CSS(`[data-route="web"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	// A kept token the API does not take (here: one set by hand) brings
	// the login form back on the next load.
	err = do(ctx,
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('cutover-token', 'stale')`),
		chromedp.Navigate(s.admin+"/ui/index.html#/overview"), // a new page load

		waitJS(`!document.querySelector('#login').hidden && `+text("#login-error")+` === 'Wrong token.'`),
		waitJS(`document.querySelector('#view').childElementCount === 0 && document.querySelector('#nav').hidden`),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, pageText(ctx))
	}
	if strings.Contains(url, "token") {
		t.Errorf("the token stayed in the URL: %s", url)
	}
	screenshot(t, ctx, "login.png", "")
}

// The files are served with a strict policy, and the API still wants the
// token.
func TestDashboardHeaders(t *testing.T) {
	s := startSite(t)
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/vendor/uPlot.iife.min.js"} {
		resp, err := http.Get(s.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: %d, CSP %q", path, resp.StatusCode, csp)
		}
	}
	resp, err := http.Get(s.admin + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API without a token: %d", resp.StatusCode)
	}
}
