package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cutover-dev/cutover/admin/wire"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/ui"
)

// HeaderActor names who made a change; the CLI sends user@host.
const HeaderActor = wire.HeaderActor

// maxRequestBody bounds admin request bodies; they are small JSON.
const maxRequestBody = 1 << 20

// API serves the admin endpoints.
type API struct {
	gw       *gateway.Gateway
	rollouts *rollout.Manager
	token    string
	log      *slog.Logger
	mux      *http.ServeMux
}

// New returns the admin handler. Every call but GET /healthz and GET /readyz
// needs "Authorization: Bearer TOKEN".
func New(gw *gateway.Gateway, rollouts *rollout.Manager, token string, log *slog.Logger) *API {
	a := &API{gw: gw, rollouts: rollouts, token: token, log: log, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", a.auth(promhttp.HandlerFor(gw.Metrics().Registry, promhttp.HandlerOpts{})))
	a.mux.Handle("GET /api/v1/status", a.auth(http.HandlerFunc(a.status)))
	a.mux.Handle("PUT /api/v1/routes/{route}/weights", a.auth(http.HandlerFunc(a.setWeights)))
	a.mux.Handle("DELETE /api/v1/routes/{route}/weights", a.auth(http.HandlerFunc(a.resetWeights)))
	a.mux.Handle("POST /api/v1/reload", a.auth(http.HandlerFunc(a.reload)))
	a.mux.Handle("GET /api/v1/routes/{route}/managed", a.auth(http.HandlerFunc(a.listManaged)))
	a.mux.Handle("GET /api/v1/routes/{route}/diffs", a.auth(http.HandlerFunc(a.diffs)))
	a.mux.Handle("GET /api/v1/routes/{route}/series", a.auth(http.HandlerFunc(a.series)))
	a.mux.Handle("PUT /api/v1/routes/{route}/managed/{name}", a.auth(http.HandlerFunc(a.setManaged)))
	a.mux.Handle("DELETE /api/v1/routes/{route}/managed", a.auth(http.HandlerFunc(a.removeManaged)))
	a.mux.Handle("GET /api/v1/events", a.auth(http.HandlerFunc(a.events)))
	a.mux.Handle("GET /api/v1/rollouts", a.auth(http.HandlerFunc(a.listRollouts)))
	a.mux.Handle("GET /api/v1/rollouts/{name}", a.auth(http.HandlerFunc(a.getRollout)))
	a.mux.Handle("POST /api/v1/rollouts/{name}/{command}", a.auth(http.HandlerFunc(a.rolloutCommand)))
	// Profiles, as Caddy and Traefik offer them, behind the same token.
	a.mux.Handle("GET /debug/pprof/", a.auth(http.HandlerFunc(pprof.Index)))
	a.mux.Handle("GET /debug/pprof/profile", a.auth(http.HandlerFunc(pprof.Profile)))
	// The dashboard's files, without the token: the page asks for it.
	a.mux.Handle("GET /ui/", ui.Handler("/ui/"))
	a.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	return a
}

// HandleChat serves chat commands posted to path, without the admin token:
// h checks the chat service's own signature. Call it before serving.
func (a *API) HandleChat(path string, h http.Handler) {
	a.mux.Handle("POST "+path, h)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) auth(next http.Handler) http.Handler { return wire.RequireBearer(a.token, next) }

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.gw.Ready() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Status is what GET /api/v1/status returns: the gateway and its plans.
type Status struct {
	gateway.Status
	Rollouts []rollout.View `json:"rollouts"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Status{Status: a.gw.Status(), Rollouts: a.rollouts.Views()})
}

func (a *API) listRollouts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": a.rollouts.Views()})
}

func (a *API) getRollout(w http.ResponseWriter, r *http.Request) {
	e := a.rollouts.Get(r.PathValue("name"))
	if e == nil {
		writeError(w, http.StatusNotFound, "name", fmt.Sprintf("no rollout %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, e.View())
}

func (a *API) rolloutCommand(w http.ResponseWriter, r *http.Request) {
	e := a.rollouts.Get(r.PathValue("name"))
	if e == nil {
		writeError(w, http.StatusNotFound, "name", fmt.Sprintf("no rollout %q", r.PathValue("name")))
		return
	}
	var req wire.CommandRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	who, ctx := actor(r), r.Context()
	var err error
	switch cmd := r.PathValue("command"); cmd {
	case "promote":
		err = e.Promote(ctx, req.Full, req.Force, who, req.Reason)
	case "abort":
		err = e.Abort(ctx, who, req.Reason)
	case "retry":
		err = e.Retry(ctx, who, req.Reason)
	case "pause":
		err = e.Pause(ctx, who, req.Reason)
	case "resume":
		err = e.Resume(ctx, who, req.Reason)
	case "rollback":
		if req.ToStep == nil {
			writeError(w, http.StatusBadRequest, "toStep", "required: the step to go back to")
			return
		}
		err = e.Rollback(ctx, *req.ToStep, who, req.Reason)
	default:
		writeError(w, http.StatusNotFound, "command", fmt.Sprintf("unknown command %q (promote, abort, retry, pause, resume, rollback)", cmd))
		return
	}
	var ce *rollout.CommandError
	switch {
	case errors.As(err, &ce):
		writeError(w, http.StatusConflict, "command", err.Error())
	case err != nil:
		a.fail(w, err)
	default:
		writeJSON(w, http.StatusOK, e.View())
	}
}

func (a *API) setWeights(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Weights map[string]json.RawMessage `json:"weights"`
		Reason  string                     `json:"reason"`
	}
	if !decode(w, r, &req) {
		return
	}
	if len(req.Weights) == 0 {
		writeError(w, http.StatusBadRequest, "weights", "required: a map of backend name to percent")
		return
	}
	weights := map[string]int{}
	for name, raw := range req.Weights {
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			writeError(w, http.StatusBadRequest, "weights."+name, fmt.Sprintf("%s is not an integer percentage", raw))
			return
		}
		weights[name] = v
	}
	route := r.PathValue("route")
	if err := a.gw.SetWeights(route, weights, actor(r), req.Reason); err != nil {
		a.fail(w, err)
		return
	}
	a.status(w, r)
}

func (a *API) resetWeights(w http.ResponseWriter, r *http.Request) {
	if err := a.gw.ResetWeights(r.PathValue("route"), actor(r), r.URL.Query().Get("reason")); err != nil {
		a.fail(w, err)
		return
	}
	a.status(w, r)
}

func (a *API) diffs(w http.ResponseWriter, r *http.Request) {
	route := r.PathValue("route")
	diffs, err := a.gw.Diffs(route)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"route": route, "diffs": diffs})
}

// series returns each backend's requests, 5xx and p50/p99 latency per
// second over the last ?seconds=N (default and most: 15 minutes), up to
// the last whole second.
func (a *API) series(w http.ResponseWriter, r *http.Request) {
	seconds := gateway.SeriesSeconds
	if v := r.URL.Query().Get("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > gateway.SeriesSeconds {
			writeError(w, http.StatusBadRequest, "seconds", fmt.Sprintf("must be a whole number of seconds from 1 to %d", gateway.SeriesSeconds))
			return
		}
		seconds = n
	}
	to := time.Now().Unix() - 1
	route := r.PathValue("route")
	backends, err := a.gw.Series(route, to-int64(seconds)+1, to)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Series{Route: route, Interval: 1, From: to - int64(seconds) + 1, To: to, Backends: backends})
}

func (a *API) listManaged(w http.ResponseWriter, r *http.Request) {
	mrs, err := a.gw.ManagedRoutes(r.PathValue("route"))
	if err != nil {
		a.fail(w, err)
		return
	}
	if mrs == nil {
		mrs = []gateway.ManagedRoute{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"managed": mrs})
}

func (a *API) setManaged(w http.ResponseWriter, r *http.Request) {
	var req wire.ManagedRouteRequest
	if !decode(w, r, &req) {
		return
	}
	mr := gateway.ManagedRoute{Name: r.PathValue("name"), Match: req.Match, Backend: req.Backend, MirrorPercent: req.MirrorPercent}
	if err := a.gw.SetManagedRoute(r.PathValue("route"), mr, actor(r), req.Reason); err != nil {
		a.fail(w, err)
		return
	}
	a.listManaged(w, r)
}

func (a *API) removeManaged(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := a.gw.RemoveManagedRoutes(r.PathValue("route"), actor(r), q.Get("reason"), q["keep"]...); err != nil {
		a.fail(w, err)
		return
	}
	a.listManaged(w, r)
}

func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	if err := a.gw.Reload(actor(r)); err != nil {
		var list spec.ErrorList
		msg := err.Error()
		if errors.As(err, &list) {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "config refused; the running config keeps serving", "problems": strings.Split(msg, "\n")})
			return
		}
		writeError(w, http.StatusUnprocessableEntity, "", msg)
		return
	}
	a.status(w, r)
}

// events returns the audit log. ?after=SEQ returns newer events only;
// ?limit=N the newest N; ?before=SEQ&limit=N the page of N before SEQ,
// with "before" set to fetch the page older than it; ?follow=1 streams
// them as Server-Sent Events.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after, before uint64
	for _, p := range []struct {
		name string
		v    *uint64
	}{{"after", &after}, {"before", &before}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, p.name, "must be an event sequence number")
				return
			}
			*p.v = n
		}
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit", "must be a positive integer")
			return
		}
		limit = n
	}
	store := a.gw.Store()
	if q.Get("follow") == "" || q.Get("follow") == "0" {
		var evs []state.Event
		var err error
		switch {
		case before > 0 || limit > 0 && after == 0:
			evs, err = store.EventsBefore(before, max(limit, 1))
		default:
			evs, err = store.Events(after, limit)
		}
		if err != nil {
			a.fail(w, err)
			return
		}
		out := map[string]any{"events": nonNil(evs)}
		if len(evs) > 0 {
			if older, err := store.EventsBefore(evs[0].Seq, 1); err == nil && len(older) > 0 {
				out["before"] = evs[0].Seq // the next page back starts here
			}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if limit > 0 && after == 0 {
		if evs, err := store.LastEvents(limit); err == nil && len(evs) > 0 {
			after = evs[0].Seq - 1
		}
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		changed := store.Changed()
		evs, err := store.Events(after, 0)
		if err != nil {
			return
		}
		for _, ev := range evs {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Action, data)
			after = ev.Seq
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
	}
}

func nonNil(evs []state.Event) []state.Event {
	if evs == nil {
		return []state.Event{}
	}
	return evs
}

func actor(r *http.Request) string {
	if a := r.Header.Get(HeaderActor); a != "" {
		return a
	}
	return "api"
}

// decode reads a JSON body strictly, answering 400 on any problem.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body", "invalid JSON: "+err.Error())
		return false
	}
	return true
}

func (a *API) fail(w http.ResponseWriter, err error) {
	var in *gateway.InputError
	if errors.As(err, &in) {
		writeError(w, http.StatusBadRequest, in.Field, in.Msg)
		return
	}
	a.log.Error("admin request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "", err.Error())
}

// ErrorResponse is the body of every admin error.
type ErrorResponse = wire.ErrorResponse

func writeError(w http.ResponseWriter, code int, field, msg string) {
	wire.WriteError(w, code, field, msg)
}

func writeJSON(w http.ResponseWriter, code int, v any) { wire.WriteJSON(w, code, v) }
