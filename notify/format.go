package notify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cutover-dev/cutover/spec"
)

// render is ev as the webhook's format wants it, with its content type.
func render(format string, ev Event) ([]byte, string) {
	if format == spec.FormatSlack {
		data, _ := json.Marshal(slackMessage(ev))
		return data, "application/json"
	}
	data, _ := json.Marshal(ev)
	return data, "application/json"
}

// Headline is one line saying what happened, in words (no colour or
// emoji needed to read it).
func Headline(ev Event) string {
	switch ev.Kind {
	case spec.EventStepStarted:
		return fmt.Sprintf("%s: step %d of %d started, canary at %d%%", ev.Rollout, ev.Step, ev.Steps, ev.Weight)
	case spec.EventPaused:
		return fmt.Sprintf("%s: paused at step %d of %d, canary at %d%%", ev.Rollout, ev.Step, ev.Steps, ev.Weight)
	case spec.EventAnalysisVerdict:
		return fmt.Sprintf("%s: analysis verdict at step %d: %s", ev.Rollout, ev.Step, ev.Phase)
	case spec.EventPromoted:
		return fmt.Sprintf("%s: promoted by %s, canary at %d%%", ev.Rollout, ev.Actor, ev.Weight)
	case spec.EventAborted:
		return fmt.Sprintf("%s: ABORTED at step %d, all traffic back on %s", ev.Rollout, ev.Step, orName(ev.Stable, "stable"))
	case spec.EventCompleted:
		return fmt.Sprintf("%s: completed, all traffic on %s", ev.Rollout, orName(ev.Canary, "the canary"))
	case spec.EventDegraded:
		return fmt.Sprintf("%s: DEGRADED, the traffic router does not answer; the plan waits", ev.Rollout)
	case spec.EventConfigRefused:
		return "config reload refused; the running config keeps serving"
	}
	return ev.Rollout + ": " + ev.Kind
}

func orName(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// slackMessage is Slack's incoming-webhook payload: text for
// notifications and clients without blocks, and the same in blocks.
func slackMessage(ev Event) map[string]any {
	head := Headline(ev)
	fields := []map[string]string{}
	add := func(label, v string) {
		if v != "" {
			fields = append(fields, map[string]string{"type": "mrkdwn", "text": "*" + label + "*\n" + SlackEscape(v)})
		}
	}
	if ev.Kind != spec.EventConfigRefused {
		add("Route", ev.Route)
		add("Phase", ev.Phase)
		add("Step", fmt.Sprintf("%d of %d", ev.Step, ev.Steps))
		add("Canary weight", fmt.Sprintf("%d%%", ev.Weight))
	}
	add("By", ev.Actor)
	blocks := []map[string]any{
		{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": "*" + SlackEscape(head) + "*"}},
	}
	if len(fields) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	if ev.Reason != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": "*Why*\n" + SlackEscape(truncate(ev.Reason, 2900))}})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]string{
		{"type": "mrkdwn", "text": "cutover · " + ev.Time.UTC().Format("2006-01-02 15:04:05 UTC")},
	}})
	text := head
	if ev.Reason != "" {
		text += ": " + ev.Reason
	}
	return map[string]any{"text": SlackEscape(truncate(text, 3000)), "blocks": blocks}
}

// SlackEscape escapes the three characters Slack's mrkdwn gives meaning
// to, as its docs ask.
func SlackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate keeps s within Slack's text limits (3000 characters a block).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
