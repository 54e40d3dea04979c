package rollout_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/rollout"
)

// A plan's webhook is told each change as it happens: a step, a pause,
// a promotion and who made it, an analysis verdict with its figures, the
// abort it caused, and a refused config reload.
func TestPlanNotifiesItsWebhooks(t *testing.T) {
	recv := testenv.StartWebhook(t)
	var fail atomic.Bool
	cfg := planConfig(backend(t, "legacy", nil), backend(t, "new", &fail), `      - setWeight: 20
      - pause: {}
      - setWeight: 50
      - analysis:
          metrics:
          - name: errors
            interval: 1s
            provider:
              gateway:
                judge: {minSamples: 50, errorRate: {maxIncrease: 0.05}}
      - setWeight: 100
  notifications:
  - name: team
    url: `+recv.URL+`/hook
`)
	v := newEnv(t, cfg)
	v.tick()
	v.expect(rollout.Paused, 1, 20)
	if err := v.e.Promote(context.Background(), false, false, "alice@laptop", ""); err != nil {
		t.Fatal(err)
	}
	v.tick()
	v.expect(rollout.Analyzing, 3, 50)
	fail.Store(true)
	v.analyze(60)
	v.expect(rollout.Aborted, 3, 0)
	os.WriteFile(v.file, []byte(strings.Replace(cfg, "routes:", "routes: [] #", 1)), 0o600)
	if err := v.srv.Gateway.Reload("test"); err == nil {
		t.Fatal("a config without routes was accepted")
	}

	want := []struct {
		kind          string
		step, weight  int
		actor, reason string
	}{
		{"stepStarted", 0, 0, "system", "plan with 5 steps"},
		{"stepStarted", 1, 20, "system", "step 0: setWeight 20"},
		{"paused", 1, 20, "system", "step 1: waiting for promote"},
		{"promoted", 2, 20, "alice@laptop", "promoted past step 1"},
		{"stepStarted", 3, 50, "system", "step 2: setWeight 50"},
		{"analysisVerdict", 3, 50, "system", "step-3: errors Failed"},
		{"aborted", 3, 0, "system", "analysis failed: errors Failed"},
		{"configRefused", 0, 0, "", "cutover.yaml:12:1"},
	}
	deadline := time.Now().Add(10 * time.Second)
	for recv.Count("/hook") < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := recv.Events("/hook")
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Step != w.step || g.Weight != w.weight || g.Actor != w.actor || !strings.Contains(g.Reason, w.reason) {
			t.Errorf("event %d: %s step %d weight %d by %q (%s), want %s step %d weight %d by %q (%s)", i, g.Kind, g.Step, g.Weight, g.Actor, g.Reason, w.kind, w.step, w.weight, w.actor, w.reason)
		}
		if g.Kind != "configRefused" && (g.Rollout != "web" || g.Route != "web" || g.Steps != 5 || g.Time.IsZero()) {
			t.Errorf("event %d: %+v lacks the plan", i, g)
		}
	}
	if got[5].Phase != "Failed" || !strings.Contains(got[5].Reason, "canary 10.") {
		t.Errorf("the verdict %+v lacks its figures", got[5])
	}
}
