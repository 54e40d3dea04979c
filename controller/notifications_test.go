package controller

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/internal/testenv"
)

// A Cutover's webhooks, one by URL and one by a Secret holding it, are
// told the plan's changes as the controller makes them, with the actor of
// a command; a webhook whose Secret is missing is named in an Event and
// the others go on.
func TestCutoverNotifiesItsWebhooks(t *testing.T) {
	recv := testenv.StartWebhook(t)
	kinds := func(path string) string {
		var out []string
		for _, ev := range recv.Events(path) {
			out = append(out, fmt.Sprintf("%s@%d", ev.Kind, ev.Weight))
		}
		return strings.Join(out, " ")
	}

	h := newHarness(t)
	h.apply(virtualService)
	h.apply(`apiVersion: v1
kind: Secret
metadata: {name: hooks, namespace: shop}
stringData: {team: "` + recv.URL + `/from-secret"}`)
	h.startController()
	h.apply(strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "  trafficRouting:", `  notifications:
  - {name: all, url: "`+recv.URL+`/all"}
  - {name: team, urlSecretRef: {name: hooks, key: team}, format: slack, events: [aborted]}
  - {name: missing, urlSecretRef: {name: nope, key: url}}
  trafficRouting:`, 1))
	h.waitFor("web", "the manual pause", phaseAt("Paused", 4))
	if msg := h.command("web", "abort"); msg != "" {
		t.Fatalf("abort: %s", msg)
	}
	h.waitFor("web", "Aborted", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Aborted" })
	want := "stepStarted@0 stepStarted@0 stepStarted@20 paused@20 stepStarted@20 stepStarted@50 paused@50 aborted@0"
	h.eventually("the events of the plan at /all", func() bool { return kinds("/all") == want })
	h.eventually("the abort, in Slack's format, at the Secret's URL", func() bool { return recv.Count("/from-secret") == 1 })
	all := recv.Events("/all")
	last := all[len(all)-1]
	if last.Rollout != "web" || last.Actor == "" || last.Actor == "system" {
		t.Errorf("the abort event %+v lacks the plan or the command's actor", last)
	}
	h.eventually("an Event naming the missing Secret", func() bool {
		evs := &eventsList{}
		return h.c.List(h.ctx, evs.obj(), client.InNamespace("shop")) == nil && strings.Contains(evs.reasons("web"), "NotificationsIncomplete")
	})
}
