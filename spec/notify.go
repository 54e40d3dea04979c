package spec

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Notification is a webhook told about a plan's changes, as Argo Rollouts'
// notifications and Flagger's alerts are.
type Notification struct {
	Name string `yaml:"name"`
	// URL, or a file holding it (a Slack webhook URL is a secret).
	URL     string `yaml:"url"`
	URLFile string `yaml:"urlFile"`
	// Format is "json" (a plain event document, the default) or "slack"
	// (Slack's incoming-webhook message with blocks).
	Format string `yaml:"format"`
	// Events are the changes it wants (NotificationEvents); all when empty.
	Events []string `yaml:"events"`
}

// Notification formats.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// The changes a Notification can ask for.
const (
	EventStepStarted     = "stepStarted"
	EventPaused          = "paused"
	EventAnalysisVerdict = "analysisVerdict"
	EventPromoted        = "promoted"
	EventAborted         = "aborted"
	EventCompleted       = "completed"
	EventDegraded        = "degraded"
	EventConfigRefused   = "configRefused"
)

// NotificationEvents are every event a Notification can ask for.
var NotificationEvents = []string{
	EventStepStarted, EventPaused, EventAnalysisVerdict, EventPromoted,
	EventAborted, EventCompleted, EventDegraded, EventConfigRefused,
}

// Wants reports whether the webhook asked for event.
func (n *Notification) Wants(event string) bool {
	return len(n.Events) == 0 || slices.Contains(n.Events, event)
}

func validateNotifications(p *problems, path string, ns []Notification) {
	seen := map[string]bool{}
	for i, n := range ns {
		np := fmt.Sprintf("%s[%d]", path, i)
		validateName(p, np+".name", n.Name)
		if seen[n.Name] {
			p.add(np+".name", "duplicate notification name %q", n.Name)
		}
		seen[n.Name] = true
		switch {
		case n.URL != "" && n.URLFile != "":
			p.add(np, "give url or urlFile, not both")
		case n.URL != "":
			validateWebhookURL(p, np+".url", n.URL)
		case n.URLFile != "":
			validateFile(p, np+".urlFile", n.URLFile)
		default:
			p.add(np+".url", "required: url or urlFile")
		}
		switch n.Format {
		case "", FormatJSON, FormatSlack:
		default:
			p.add(np+".format", "%q is not a format (json, slack)", n.Format)
		}
		for j, ev := range n.Events {
			if !slices.Contains(NotificationEvents, ev) {
				p.add(fmt.Sprintf("%s.events[%d]", np, j), "%q is not an event (%s)", ev, strings.Join(NotificationEvents, ", "))
			}
		}
	}
}

// ValidateWebhookURL says what is wrong with a webhook's URL, or "".
func ValidateWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "is not an http(s) URL"
	}
	return ""
}

func validateWebhookURL(p *problems, path, raw string) {
	if msg := ValidateWebhookURL(raw); msg != "" {
		// The URL itself is often a secret: not repeated in the error.
		p.add(path, "%s", msg)
	}
}
