package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/state"
)

// statusStore keeps a plan's state in its Cutover's status: every
// transition is written there, with a Kubernetes Event, before the engine
// acts on it, so a restarted controller (or a new leader) resumes from it.
type statusStore struct {
	c        client.Client
	recorder events.EventRecorder
	// obj is the Cutover as last read; its status is kept up to date here.
	obj *v1alpha1.Cutover
	ctx context.Context
}

func (s *statusStore) Load(_ string, st *rollout.State) (bool, error) {
	raw := s.obj.Status.Engine.Raw
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "{}" {
		return false, nil
	}
	return true, json.Unmarshal(raw, st)
}

func (s *statusStore) Transition(_ string, st *rollout.State, ev state.Event) error {
	if err := s.write(st); err != nil {
		return err
	}
	kind := corev1.EventTypeNormal
	if st.Phase == rollout.Aborted || st.Phase == rollout.Degraded {
		kind = corev1.EventTypeWarning
	}
	action := strings.TrimPrefix(ev.Action, "rollout.")
	reason := eventReason(action)
	note := fmt.Sprintf("%s: %s step %d, canary weight %d", ev.Actor, st.Phase, st.Step, st.Weight)
	if ev.Reason != "" {
		note += ": " + ev.Reason
	}
	s.recorder.Eventf(s.obj, nil, kind, reason, action, "%s", truncate(note, 1000))
	return nil
}

func (s *statusStore) Checkpoint(_ string, st *rollout.State) error { return s.write(st) }

// write patches the engine state and the summary fields into the status.
// Only the leader writes status, so the patch carries no resourceVersion.
func (s *statusStore) write(st *rollout.State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	s.obj.Status.Engine.Raw = raw
	summarize(&s.obj.Status, st, s.obj.Generation)
	return patchStatus(s.ctx, s.c, s.obj)
}

func patchStatus(ctx context.Context, c client.Client, co *v1alpha1.Cutover) error {
	data, err := json.Marshal(map[string]any{"status": co.Status})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Status().Patch(ctx, co, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("writing status of Cutover %s/%s: %w", co.Namespace, co.Name, err)
	}
	return nil
}

// eventReason turns an engine action (weight-set, aborted) into an Event
// reason (WeightSet, Aborted).
func eventReason(action string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(action, func(r rune) bool { return r == '-' || r == '.' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 {
		return "Transition"
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
