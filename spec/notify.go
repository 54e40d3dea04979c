package spec

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Notification is a webhook told about a plan's changes, as Argo Rollouts'
// notifications and Flagger's alerts are. It is the Cutover resource's
// too (api/v1alpha1), where the URL may be kept in a Secret.
//
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.urlSecretRef)",message="set exactly one of url and urlSecretRef"
type Notification struct {
	// +kubebuilder:validation:MaxLength=63
	Name string `yaml:"name" json:"name"`
	// URL, or a file holding it (a Slack webhook URL is a secret).
	// +kubebuilder:validation:Pattern=`^https?://`
	URL     string `yaml:"url" json:"url,omitempty"`
	URLFile string `yaml:"urlFile" json:"-"`
	// URLSecretRef, on Kubernetes, is a key of a Secret that holds the URL;
	// cutover-kube reads it into URL.
	URLSecretRef *SecretKeyRef `yaml:"-" json:"urlSecretRef,omitempty"`
	// Format is "json" (a plain event document, the default) or "slack"
	// (Slack's incoming-webhook message with blocks).
	// +kubebuilder:validation:Enum=json;slack
	Format string `yaml:"format" json:"format,omitempty"`
	// Events are the changes it wants (NotificationEvents); all when empty.
	// +kubebuilder:validation:items:Enum=stepStarted;paused;analysisVerdict;promoted;aborted;completed;degraded;configRefused
	Events []string `yaml:"events" json:"events,omitempty"`
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
