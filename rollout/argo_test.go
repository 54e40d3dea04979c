package rollout_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/internal/cliview"
	"github.com/cutover-dev/cutover/rollout"
)

// blueGreenConfig is planConfig with a blueGreen strategy in place of the
// canary one.
func blueGreenConfig(legacy, next, strategy string) string {
	cfg := planConfig(legacy, next, "")
	i := strings.Index(cfg, "    canary:")
	return cfg[:i] + "    blueGreen:\n" + strategy
}

const postPromotion = `      postPromotionAnalysis:
        metrics:
        - name: errors
          interval: 1s
          count: 5
          successCondition: result < 0.05
          provider:
            gateway: {value: errorRate}
`

// Argo's sequence: nothing reaches the preview before promotion; the
// switch moves all traffic at once; a failed post-promotion analysis
// switches it back to the active backend.
func TestBlueGreenFailedPostPromotionSwitchesBack(t *testing.T) {
	var fail atomic.Bool
	v := newEnv(t, blueGreenConfig(backend(t, "legacy", nil), backend(t, "new", &fail),
		"      activeService: legacy\n      previewService: new\n      autoPromotionEnabled: false\n"+postPromotion))
	v.tick()
	v.expect(rollout.Paused, 0, 0)
	for range 20 {
		if _, b := v.get(); b != "legacy" {
			t.Fatalf("before promotion %q answered", b)
		}
	}
	if err := v.e.Promote(context.Background(), false, false, "test", ""); err != nil {
		t.Fatal(err)
	}
	v.tick()
	v.expect(rollout.Analyzing, 2, 100)
	for range 20 {
		if _, b := v.get(); b != "new" {
			t.Fatalf("after the switch %q answered", b)
		}
	}
	fail.Store(true)
	v.analyze(10)
	v.expect(rollout.Aborted, 2, 0)
	if r := v.state().Reason; !strings.Contains(r, "analysis failed: errors Failed") {
		t.Fatalf("abort reason %q", r)
	}
	for range 20 {
		if code, b := v.get(); code != 200 || b != "legacy" {
			t.Fatalf("after the failed analysis: %d from %q", code, b)
		}
	}
}

func TestBlueGreenTimedPromotion(t *testing.T) {
	v := newEnv(t, blueGreenConfig(backend(t, "legacy", nil), backend(t, "new", nil),
		"      activeService: legacy\n      previewService: new\n      autoPromotionSeconds: 30\n"))
	v.tick()
	v.expect(rollout.Paused, 0, 0)
	v.now = v.now.Add(29 * time.Second)
	v.tick()
	v.expect(rollout.Paused, 0, 0)
	v.now = v.now.Add(2 * time.Second)
	v.tick()
	v.tick()
	v.expect(rollout.Completed, 2, 100)
	if _, b := v.get(); b != "new" {
		t.Fatalf("after the promotion %q answered", b)
	}
}

// Under load: the switch, an abort back to active, a retry and the switch
// again lose no request.
func TestNoFailedRequestThroughABlueGreenSwitchAndAbort(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(blueGreenConfig(backend(t, "legacy", nil), backend(t, "new", nil),
		"      activeService: legacy\n      previewService: new\n      autoPromotionEnabled: false\n"+
			strings.NewReplacer("interval: 1s", "interval: 100ms", "count: 5", "count: 3", "result < 0.05", "result <= 0").Replace(postPromotion))), 0o600)
	srv, url := serving(t, file)
	l := startLoad(url, nil)
	count := l.count

	e := srv.Rollouts.Get("web")
	waitState(t, e, func(s rollout.State) bool { return s.Phase == rollout.Paused }, "the pause before promotion")
	time.Sleep(200 * time.Millisecond)
	if n := count("new"); n != 0 {
		t.Fatalf("%d requests reached the preview before promotion", n)
	}
	promote := func() {
		t.Helper()
		if err := e.Promote(context.Background(), false, false, "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	promote()
	waitState(t, e, func(s rollout.State) bool { return s.Phase == rollout.Analyzing && s.Weight == 100 }, "the switch")
	if err := e.Abort(context.Background(), "test", "back to active"); err != nil {
		t.Fatal(err)
	}
	// Requests already on their way to the preview finish there.
	time.Sleep(50 * time.Millisecond)
	before := count("new")
	time.Sleep(200 * time.Millisecond)
	if n := count("new") - before; n != 0 {
		t.Fatalf("%d requests reached the preview after the abort", n)
	}
	if err := e.Retry(context.Background(), "test", ""); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, func(s rollout.State) bool { return s.Phase == rollout.Paused }, "the pause again")
	promote()
	waitState(t, e, func(s rollout.State) bool { return s.Phase == rollout.Completed }, "completion")
	time.Sleep(50 * time.Millisecond)
	before = count("legacy")
	time.Sleep(200 * time.Millisecond)
	bad, firstBad := l.stop()
	if n := count("legacy") - before; n != 0 {
		t.Fatalf("%d requests reached the old active backend after completion", n)
	}
	t.Logf("answered: legacy %d, new %d", count("legacy"), count("new"))
	if bad != 0 {
		t.Fatalf("%d requests failed (first: %v)", bad, firstBad)
	}
	if count("legacy") < 500 || count("new") < 500 {
		t.Fatalf("too little load: legacy %d, new %d", count("legacy"), count("new"))
	}
}

// Argo's steps that only size pods are passed over, in their place.
func TestPodsOnlyStepsArePassedOver(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), `      - setCanaryScale: {replicas: 2}
      - setWeight: 20
      - experiment: {templates: [{name: baseline, specRef: stable}]}
      - pause: {}
`))
	v.tick()
	v.expect(rollout.Paused, 3, 20)
	steps := v.e.View().Steps
	if steps[0].Text != "pods only: nothing to do here" || steps[0].Status != "done" {
		t.Fatalf("step 0: %+v", steps[0])
	}
}

// A dry-run metric that fails does not abort the plan (Argo's dryRun on
// the step's analysis).
func TestDryRunMetricDoesNotAbort(t *testing.T) {
	var fail atomic.Bool
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", &fail), `      - setWeight: 50
      - analysis:
          dryRun: [{metricName: err.*}]
          metrics:
          - name: errors
            interval: 1s
            count: 3
            successCondition: result < 0.05
            provider:
              gateway: {value: errorRate}
      - setWeight: 100
`))
	v.tick()
	v.expect(rollout.Analyzing, 1, 50)
	fail.Store(true)
	v.analyze(10)
	v.tick()
	v.expect(rollout.Completed, 3, 100)
}

// The preview is reachable before the switch through the previewHeader's
// route; after the switch the active side stays ready for
// scaleDownDelaySeconds, and the plan says when it can go.
func TestBlueGreenPreviewHeaderAndScaleDownDelay(t *testing.T) {
	v := newEnv(t, blueGreenConfig(backend(t, "legacy", nil), backend(t, "new", nil),
		"      activeService: legacy\n      previewService: new\n      autoPromotionEnabled: false\n      scaleDownDelaySeconds: 45\n"+
			"      previewHeader: {headerName: x-preview, headerValue: {exact: \"yes\"}}\n"))
	v.tick()
	v.tick()
	v.expect(rollout.Paused, 1, 0)
	if _, b := v.get("X-Preview", "yes"); b != "new" {
		t.Fatalf("the preview header reached %q", b)
	}
	if _, b := v.get(); b != "legacy" {
		t.Fatalf("without the header: %q", b)
	}
	if v.e.View().DecommissionFrom != nil {
		t.Fatal("a running plan says the active side can go")
	}
	if err := v.e.Promote(context.Background(), false, false, "test", ""); err != nil {
		t.Fatal(err)
	}
	v.tick()
	v.tick()
	v.expect(rollout.Completed, 3, 100)
	view := v.e.View()
	if d := view.DecommissionFrom; d == nil || !d.Equal(view.State.Updated.Add(45*time.Second)) {
		t.Fatalf("decommission from %v, completed %v", d, view.State.Updated)
	}
	if out := cliview.Render(&view); !strings.Contains(out, "legacy stays ready to take the traffic back until") {
		t.Fatalf("the CLI does not say when the active side can go:\n%s", out)
	}
	if _, b := v.get("X-Preview", "no"); b != "new" {
		t.Fatalf("after the switch %q answered", b)
	}
}
