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
` + testenv.WebPlan + `      - setWeight: 20
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

// TestDashboardSteersAPlan logs in, watches the split, the plan and the
// charts fill, promotes and aborts from the page, and checks each change
// in the page and in the gateway's answers.
func TestDashboardSteersAPlan(t *testing.T) {
	s := startSite(t)
	ctx := testenv.Browser(t)

	err := testenv.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), s.token),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-route="web"]`)),
		testenv.WaitJS(`document.querySelector('[data-route="web"] .split.configured').getAttribute('aria-label') === 'legacy 80%, new 20%'`),
	)
	if err != nil {
		t.Fatalf("login and overview: %v\n%s", err, testenv.PageText(ctx))
	}
	testenv.Screenshot(t, ctx, "overview.png", "")

	err = testenv.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/#/rollout/web"),
		testenv.WaitJS(testenv.Text("#phase")+` === 'Paused' && `+testenv.Text("#step")+` === '1'`),
		testenv.WaitJS(`document.querySelector('li.current[data-step="1"]') !== null`),
		// The charts fill with live traffic: both backends answered.
		testenv.WaitJS(`Number((document.querySelector('.chart[data-backend="legacy"]') || {getAttribute(){return 0}}).getAttribute('data-requests')) > 50`),
		testenv.WaitJS(`Number((document.querySelector('.chart[data-backend="new"]') || {getAttribute(){return 0}}).getAttribute('data-requests')) > 5`),
		testenv.WaitJS(`document.querySelectorAll('.chart canvas').length >= 6`),
	)
	if err != nil {
		t.Fatalf("rollout page: %v", err)
	}
	testenv.Screenshot(t, ctx, "rollout-paused.png", "")

	// Promote from the page: the step advances, the weights change.
	err = testenv.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-action="promote"]`)),
		testenv.Click("#confirm-ok"),
		testenv.WaitJS(`document.querySelector('#answer').getAttribute('data-status') === '200'`),
		testenv.WaitJS(testenv.Text("#step")+` === '3' && `+testenv.Text("#weight")+` === '60%'`),
		testenv.WaitJS(`document.querySelector('[data-route="web"] .split.configured').getAttribute('aria-label') === 'legacy 40%, new 60%'`),
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
	testenv.Screenshot(t, ctx, "rollout-promoted.png", docs)

	// Promote fully is refused while... nothing is wrong here: instead,
	// abort, and all traffic is back on stable.
	err = testenv.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-action="abort"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reason")),
		chromedp.SendKeys(chromedp.CSS("#confirm-reason"), "checkout errors"),
		testenv.Click("#confirm-ok"),
		testenv.WaitJS(testenv.Text("#phase")+` === 'Aborted' && `+testenv.Text("#weight")+` === '0%'`),
		testenv.WaitJS(`(`+testenv.Text("#reason")+` || '').includes('checkout errors')`),
		// Each step and the abort are marks on the charts' time axis.
		testenv.WaitJS(`['setWeight 20%', 'paused 20%', 'setWeight 60%', 'aborted 0%'].every((m) => document.querySelector('.chart[data-backend="new"]').getAttribute('data-marks').split('|').includes(m))`),
	)
	if err != nil {
		marks, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.chart[data-backend="new"]').getAttribute('data-marks')`))
		t.Fatalf("abort: %v (marks %s)", err, marks)
	}
	if got := s.share(t, 50); got["legacy"] != 50 {
		t.Fatalf("after abort the gateway answers %v, want all 50 from legacy", got)
	}
	// A command the plan refuses shows the refusal and its reason.
	err = testenv.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-action="promote"]`)),
		testenv.Click("#confirm-ok"),
		testenv.WaitJS(`document.querySelector('#answer').getAttribute('data-status') === '409'`),
		testenv.WaitJS(`document.querySelector('#answer').textContent.includes('aborted')`),
	)
	if err != nil {
		t.Fatalf("refused promote: %v", err)
	}
	testenv.Screenshot(t, ctx, "rollout-aborted.png", "")
	if n := s.failed.Load(); n != 0 {
		t.Errorf("%d requests of the load failed", n)
	}

	// The mirror's differing pairs, side by side: the shadow answers with
	// another body and another X-Backend.
	err = testenv.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/#/diffs"),
		testenv.WaitJS(`document.querySelectorAll('.diff').length > 0`),
		testenv.WaitJS(`document.querySelector('.diff').textContent.includes('differs in body') && document.querySelector('.diff').textContent.includes('≠ X-Backend') && document.querySelector('.diff').textContent.includes('body sha256')`),
	)
	if err != nil {
		t.Fatalf("diffs: %v\n%s", err, testenv.PageText(ctx))
	}
	testenv.Screenshot(t, ctx, "diffs.png", "")

	// On a narrow window the rollout page still fits: nothing wider than
	// the window but the tables' own scrolling boxes.
	err = testenv.Do(ctx,
		chromedp.EmulateViewport(420, 900),
		chromedp.Navigate(s.admin+"/ui/#/rollout/web"),
		testenv.WaitJS(testenv.Text("#phase")+` === 'Aborted'`),
		testenv.WaitJS(`document.querySelectorAll('.chart canvas').length >= 6`),
		testenv.WaitJS(`document.documentElement.scrollWidth <= window.innerWidth`),
	)
	if err != nil {
		width, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Fatalf("narrow window: %v (page %d px wide)\n%s", err, width, testenv.PageText(ctx))
	}
	testenv.Screenshot(t, ctx, "rollout-narrow.png", "")
	if err := testenv.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}

	// The events page shows the audit log with the dashboard as actor.
	err = testenv.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/#/events"),
		testenv.WaitJS(`[...document.querySelectorAll('#events tr')].some((r) => r.textContent.includes('rollout.aborted') && r.textContent.includes('dashboard'))`),
	)
	if err != nil {
		t.Fatalf("events: %v\n%s", err, testenv.PageText(ctx))
	}
}

func TestDashboardWrongTokenShowsLogin(t *testing.T) {
	s := startSite(t)
	ctx := testenv.Browser(t)
	err := testenv.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/#token=not-the-token"),
		testenv.WaitJS(testenv.Text("#login-error")+` === 'Wrong token.'`),
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
	err = testenv.Do(ctx,
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
	err = testenv.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('cutover-token', 'stale')`),
		chromedp.Navigate(s.admin+"/ui/index.html#/overview"), // a new page load

		testenv.WaitJS(`!document.querySelector('#login').hidden && `+testenv.Text("#login-error")+` === 'Wrong token.'`),
		testenv.WaitJS(`document.querySelector('#view').childElementCount === 0 && document.querySelector('#nav').hidden`),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, testenv.PageText(ctx))
	}
	if strings.Contains(url, "token") {
		t.Errorf("the token stayed in the URL: %s", url)
	}
	testenv.Screenshot(t, ctx, "login.png", "")
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
