package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/admin/wire"
	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/ui"
)

// Views draws every Cutover of the namespace, by name.
func (k *Client) Views(ctx context.Context) ([]rollout.View, error) {
	var list v1alpha1.CutoverList
	if err := k.c.List(ctx, &list, client.InNamespace(k.Namespace)); err != nil {
		return nil, err
	}
	out := make([]rollout.View, 0, len(list.Items))
	for i := range list.Items {
		v, err := k.View(ctx, list.Items[i].Name)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Dashboard serves the web dashboard for the Cutovers of a namespace, as
// `kubectl argo rollouts dashboard` does for Rollouts: the page of `cutover
// serve`, and the part of its admin API the page reads, answered from the
// Cutover resources and their Events. Commands go through the annotation
// the CLI uses. Every API call needs the token.
type Dashboard struct {
	Client  *Client
	Token   string
	Log     *slog.Logger
	Timeout time.Duration // how long a command waits for the controller
}

// Handler returns the dashboard's routes.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", ui.Handler("/ui/"))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, wire.RequireBearer(d.Token, h)) }
	api("GET /api/v1/status", d.status)
	api("GET /api/v1/rollouts", d.rollouts)
	api("GET /api/v1/rollouts/{name}", d.rollout)
	api("POST /api/v1/rollouts/{name}/{command}", d.command)
	api("GET /api/v1/events", d.events)
	api("GET /api/v1/routes/{route}/series", func(w http.ResponseWriter, r *http.Request) {
		// The mesh has the traffic's metrics; the Cutover does not.
		now := time.Now().Unix() - 1
		wire.WriteJSON(w, http.StatusOK, wire.Series{Route: r.PathValue("route"), Interval: 1, From: now, To: now, Backends: []wire.BackendSeries{}})
	})
	api("GET /api/v1/routes/{route}/diffs", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteJSON(w, http.StatusOK, map[string]any{"route": r.PathValue("route"), "diffs": []any{}})
	})
	api("PUT /api/v1/routes/{route}/weights", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteError(w, http.StatusMethodNotAllowed, "route", "on Kubernetes the Cutover's plan sets the weights: promote, abort or roll back instead")
	})
	return mux
}

// status is the gateway status the overview draws: one route per
// Cutover, its two sides weighted as its status says.
func (d *Dashboard) status(w http.ResponseWriter, r *http.Request) {
	views, err := d.Client.Views(r.Context())
	if err != nil {
		d.fail(w, err)
		return
	}
	st := wire.Status{Gateway: "namespace " + d.Client.Namespace, Ready: true, ConfigFile: "Cutover resources", LastReload: wire.ReloadResult{OK: true}}
	for _, v := range views {
		canary := v.State.Weight
		st.Routes = append(st.Routes, wire.RouteStatus{Name: v.Route, Source: "runtime", Backends: []wire.RouteBackend{
			{Name: v.Stable, Weight: 100 - canary, Effective: float64(100 - canary), Healthy: true},
			{Name: v.Canary, Weight: canary, Effective: float64(canary), Healthy: true},
		}})
	}
	wire.WriteJSON(w, http.StatusOK, st)
}

func (d *Dashboard) rollouts(w http.ResponseWriter, r *http.Request) {
	views, err := d.Client.Views(r.Context())
	if err != nil {
		d.fail(w, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"rollouts": views})
}

func (d *Dashboard) rollout(w http.ResponseWriter, r *http.Request) {
	v, err := d.Client.View(r.Context(), r.PathValue("name"))
	if err != nil {
		d.fail(w, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, v)
}

func (d *Dashboard) command(w http.ResponseWriter, r *http.Request) {
	var req wire.CommandRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			wire.WriteError(w, http.StatusBadRequest, "body", "invalid JSON: "+err.Error())
			return
		}
	}
	cmd := Command{Command: r.PathValue("command"), Full: req.Full, Force: req.Force, Actor: r.Header.Get(wire.HeaderActor)}
	switch cmd.Command {
	case "promote", "abort", "retry", "pause", "resume":
	case "rollback":
		if req.ToStep == nil {
			wire.WriteError(w, http.StatusBadRequest, "toStep", "required: the step to go back to")
			return
		}
		cmd.ToStep = *req.ToStep
	default:
		wire.WriteError(w, http.StatusNotFound, "command", fmt.Sprintf("unknown command %q (promote, abort, retry, pause, resume, rollback)", cmd.Command))
		return
	}
	if cmd.Actor == "" {
		cmd.Actor = "dashboard"
	}
	v, err := d.Client.Command(r.Context(), r.PathValue("name"), cmd, d.Timeout)
	var refused *CommandRefused
	switch {
	case errors.As(err, &refused):
		wire.WriteError(w, http.StatusConflict, "command", err.Error())
	case err != nil:
		d.fail(w, err)
	default:
		wire.WriteJSON(w, http.StatusOK, v)
	}
}

var eventsGVK = schema.GroupVersionKind{Group: "events.k8s.io", Version: "v1", Kind: "EventList"}

// cutoverEvents are the namespace's Events about Cutovers, oldest first,
// as audit events.
func (d *Dashboard) cutoverEvents(ctx context.Context) ([]state.Event, error) {
	var list unstructured.UnstructuredList
	list.SetGroupVersionKind(eventsGVK)
	if err := d.Client.c.List(ctx, &list, client.InNamespace(d.Client.Namespace)); err != nil {
		return nil, err
	}
	var out []state.Event
	for _, ev := range list.Items {
		if kind, _, _ := unstructured.NestedString(ev.Object, "regarding", "kind"); kind != "Cutover" {
			continue
		}
		target, _, _ := unstructured.NestedString(ev.Object, "regarding", "name")
		action, _, _ := unstructured.NestedString(ev.Object, "action")
		note, _, _ := unstructured.NestedString(ev.Object, "note")
		at := ev.GetCreationTimestamp().Time
		if t, _, _ := unstructured.NestedString(ev.Object, "eventTime"); t != "" {
			if parsed, err := time.Parse(time.RFC3339Nano, t); err == nil {
				at = parsed
			}
		}
		// The note starts with the actor: "alice: Paused step 4, ...".
		actor, _, _ := strings.Cut(note, ": ")
		out = append(out, state.Event{Time: at, Actor: actor, Action: "rollout." + action, Target: target, Reason: note})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	for i := range out {
		out[i].Seq = uint64(i + 1)
	}
	return out, nil
}

// events answers as the admin API's: the list, or with ?follow=1 a
// stream of Server-Sent Events, polled from the cluster.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	evs, err := d.cutoverEvents(r.Context())
	if err != nil {
		d.fail(w, err)
		return
	}
	if r.URL.Query().Get("follow") == "" {
		wire.WriteJSON(w, http.StatusOK, map[string]any{"events": append([]state.Event{}, evs...)})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	sent := 0
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		for _, ev := range evs[min(sent, len(evs)):] {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Action, data)
		}
		sent = max(sent, len(evs))
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		if evs, err = d.cutoverEvents(r.Context()); err != nil {
			return
		}
	}
}

func (d *Dashboard) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "did not answer") {
		wire.WriteError(w, http.StatusGatewayTimeout, "", err.Error())
		return
	}
	if client.IgnoreNotFound(err) == nil {
		wire.WriteError(w, http.StatusNotFound, "name", err.Error())
		return
	}
	d.Log.Error("dashboard request failed", "err", err)
	wire.WriteError(w, http.StatusInternalServerError, "", err.Error())
}
