package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/internal/testenv"
)

// The dashboard of `cutover-kube dashboard` draws the Cutovers of a
// namespace from the cluster and steers them through the controller:
// the same page as `cutover serve`'s, in a real browser.
func TestKubeDashboard(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	h.startController()
	h.apply(fmt.Sprintf(plan, "web", istioRouting))
	h.waitFor("web", "the manual pause", phaseAt("Paused", 4))

	d := &Dashboard{Client: &Client{c: h.c, Namespace: "shop"}, Token: "kube-dashboard-token", Log: slog.New(slog.DiscardHandler), Timeout: 20 * time.Second}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close) // after the browser, whose event stream it waits for

	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out := map[string]any{}
		json.Unmarshal(body, &out)
		return resp.StatusCode, out
	}
	if code, _ := get("/api/v1/rollouts", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", code)
	}
	code, body := get("/api/v1/rollouts/web", d.Token)
	st, _ := body["state"].(map[string]any)
	if code != 200 || st["phase"] != "Paused" || st["step"] != float64(4) || st["weight"] != float64(50) {
		t.Fatalf("rollout: %d %v", code, body)
	}
	code, body = get("/api/v1/status", d.Token)
	if routes, _ := body["routes"].([]any); code != 200 || len(routes) != 1 || !strings.Contains(fmt.Sprint(routes[0]), "VirtualService web") {
		t.Fatalf("status: %d %v", code, body)
	}

	ctx := testenv.Browser(t)
	err := testenv.Do(ctx,
		chromedp.Navigate(srv.URL+"/ui/#token="+d.Token),
		chromedp.WaitVisible(chromedp.CSS(`a[href="#/rollout/web"]`)),
		chromedp.Navigate(srv.URL+"/ui/#/rollout/web"),
		testenv.WaitJS(testenv.Text("#phase")+` === 'Paused' && `+testenv.Text("#step")+` === '4' && `+testenv.Text("#weight")+` === '50%'`),
		testenv.Click(`[data-action="promote"]`),
		testenv.Click("#confirm-ok"),
		testenv.WaitJS(`document.querySelector('#answer').getAttribute('data-status') === '200'`),
		testenv.WaitJS(testenv.Text("#phase")+` === 'Completed' && `+testenv.Text("#weight")+` === '100%'`),
	)
	if err != nil {
		t.Fatalf("promote from the page: %v\n%s", err, testenv.PageText(ctx))
	}
	h.waitFor("web", "Completed", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Completed" })
	h.eventually("the VirtualService at 100 %", func() bool { canary, _, _ := h.vsState(); return canary == 100 })
	// A refused command shows the controller's reason.
	err = testenv.Do(ctx,
		testenv.Click(`[data-action="pause"]`),
		testenv.Click("#confirm-ok"),
		testenv.WaitJS(`document.querySelector('#answer').getAttribute('data-status') === '409'`),
		chromedp.Navigate(srv.URL+"/ui/#/events"),
		testenv.WaitJS(`[...document.querySelectorAll('#events tr')].some((r) => r.textContent.includes('rollout.step') && r.textContent.includes('promoted past step 4') && r.cells[1].textContent === 'dashboard')`),
	)
	if err != nil {
		t.Fatalf("refusal and events: %v\n%s", err, testenv.PageText(ctx))
	}
	testenv.Screenshot(t, ctx, "kube-events.png", "")
}
