package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/notify"
	"github.com/cutover-dev/cutover/spec"
)

// notifications resolves a Cutover's webhooks, reading the URLs kept in
// Secrets. A webhook whose Secret cannot be read is left out and named in
// the error; the others are returned.
func notifications(ctx context.Context, c client.Reader, co *v1alpha1.Cutover) ([]spec.Notification, error) {
	var out []spec.Notification
	var problems []string
	for i, n := range co.Spec.Notifications {
		sn := n
		if ref := n.URLSecretRef; ref != nil {
			var s corev1.Secret
			path := fmt.Sprintf("spec.notifications[%d].urlSecretRef", i)
			if err := c.Get(ctx, types.NamespacedName{Namespace: co.Namespace, Name: ref.Name}, &s); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", path, err))
				continue
			}
			url := strings.TrimSpace(string(s.Data[ref.Key]))
			if msg := spec.ValidateWebhookURL(url); msg != "" {
				problems = append(problems, fmt.Sprintf("%s: key %q of Secret %s %s", path, ref.Key, ref.Name, msg))
				continue
			}
			sn.URL, sn.URLSecretRef = url, nil
		}
		out = append(out, sn)
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return out, nil
}

// setNotifications points a Cutover's plan at its webhooks; an engine
// calls it when it starts, so a changed spec takes effect with it.
func (r *Reconciler) setNotifications(ctx context.Context, co *v1alpha1.Cutover) {
	if r.Notifications == nil {
		return
	}
	ns, err := notifications(ctx, r.reader(), co)
	if err != nil {
		r.Log.Warn("notification webhooks left out", "cutover", co.Namespace+"/"+co.Name, "err", err)
		r.Recorder.Eventf(co, nil, "Warning", "NotificationsIncomplete", "notify", "%s", truncate(err.Error(), 1000))
	}
	r.Notifications.SetFor(co.Namespace+"/"+co.Name, ns)
}

// tellRefused sends configRefused to the webhooks a Cutover had.
func (r *Reconciler) tellRefused(co *v1alpha1.Cutover, err error) {
	if r.Notifications != nil {
		r.Notifications.SendTo(co.Namespace+"/"+co.Name, notify.Event{Kind: spec.EventConfigRefused, Rollout: co.Name, Reason: err.Error(), Time: time.Now()})
	}
}
