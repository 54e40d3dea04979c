package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/internal/loop"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// Gateway is a running `cutover serve`: the current table, the pool behind
// it, runtime state, reloads and weight changes.
type Gateway struct {
	// WatchInterval is how often Run checks the config file for changes;
	// 0 turns watching off. Set it before Run.
	WatchInterval time.Duration
	// OnReload, if set, is called with each config a reload applied, after
	// it serves. Set it before Run.
	OnReload func(*spec.Config)
	// OnRefused, if set, is called with why a reload was refused; it must
	// not block. Set it before Run.
	OnRefused func(error)
	// Chat serves chat commands on spec.chat.slack.address, when the
	// config gives one. Set it before Run.
	Chat http.Handler

	files   []string
	log     *slog.Logger
	store   *state.Store // for the audit log's readers
	runtime RuntimeStore
	metrics *Metrics
	pool    *Pool
	proxy   *proxyHandler
	// ctx lives until Run has drained, not only until the signal: health
	// checks and the refresh loop go on through the drain.
	ctx    context.Context
	cancel context.CancelFunc
	// refreshes asks the refresh loop to apply a health change, so that a
	// request that ejects an endpoint never recomputes the routes itself.
	refreshes chan struct{}
	running   atomic.Bool // Run has started; it stops the background work itself

	table atomic.Pointer[Table]
	ready atomic.Bool
	// checked turns true once every endpoint with an active check had its
	// first answer, or checkWait after start; /readyz waits for it.
	checked   atomic.Bool
	createdAt time.Time
	checkWait time.Duration

	mu         sync.Mutex // serialises writers of table: reloads and weight changes
	generation uint64
	lastReload ReloadResult
	healthMu   sync.Mutex // serialises plan refreshes after health changes

	started chan struct{}     // closed once the listeners are open
	addrs   map[string]string // listener name (and "admin") to bound address; set before started closes
}

// InputError is a bad request to change the gateway; Field names the
// parameter at fault. The admin API answers it with 400.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// New loads the config file and builds the first table. Runtime weights in
// store override the file's. The gateway's health checkers run until ctx ends.
func New(ctx context.Context, files []string, store *state.Store, log *slog.Logger) (*Gateway, error) {
	cfg, err := spec.Load(files...)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		WatchInterval: time.Second,
		files:         files, log: log, store: store, runtime: state.NewRuntime[ManagedRoute](store), metrics: newMetrics(), started: make(chan struct{}),
		refreshes: make(chan struct{}, 1),
		createdAt: time.Now(), checkWait: firstCheckWait(cfg),
	}
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	// Without Run, ctx bounds the background work as it always did.
	context.AfterFunc(ctx, func() {
		if !g.running.Load() {
			g.stopBackground()
		}
	})
	g.pool = newPool(log, g.metrics, g.healthChanged)
	g.proxy = newProxyHandler(g.table.Load, g.pool, g.metrics, cfg.Gateway.Spec.Limits.MaxBodyBytes, log)
	if al := cfg.Gateway.Spec.AccessLog; al != nil {
		trusted := func() trustedProxies { return g.table.Load().trusted }
		onError := func(sink string, err error) { log.Warn("access log", "sink", sink, "err", err) }
		if g.proxy.log, err = newAccessLog(al, trusted, g.metrics, onError); err != nil {
			return nil, err
		}
	}
	if err := g.apply(cfg, "startup"); err != nil {
		g.stopBackground()
		return nil, err
	}
	go g.refreshLoop()
	g.lastReload = ReloadResult{Time: time.Now().UTC(), Actor: "startup", OK: true, Hash: cfg.Hash}
	if _, err := g.runtime.Append(state.Event{Actor: "startup", Action: "gateway.started", Target: cfg.Gateway.Metadata.Name, After: mustJSON(cfg.Hash)}); err != nil {
		g.stopBackground()
		return nil, err
	}
	g.ready.Store(true)
	return g, nil
}

// Handler serves proxied traffic.
func (g *Gateway) Handler() http.Handler { return g.proxy }

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// Store returns the runtime state store.
func (g *Gateway) Store() *state.Store { return g.store }

// Ready reports whether the gateway takes new traffic: not before the first
// active checks answered (or a bounded wait passed), and not once draining.
func (g *Gateway) Ready() bool {
	return g.ready.Load() && g.firstChecksDone()
}

func (g *Gateway) firstChecksDone() bool {
	if g.checked.Load() {
		return true
	}
	if time.Since(g.createdAt) < g.checkWait {
		for _, b := range g.table.Load().backends {
			for _, e := range b.Endpoints {
				if e.ActiveState() == "unknown" {
					return false
				}
			}
		}
	}
	g.checked.Store(true)
	return true
}

// firstCheckWait bounds how long readiness waits for the first active
// checks: the longest check timeout, and a second for the rest.
func firstCheckWait(cfg *spec.Config) time.Duration {
	wait := time.Duration(0)
	for _, b := range cfg.Gateway.Spec.Backends {
		if hc := b.HealthCheck; hc != nil && hc.Timeout.D() > wait {
			wait = hc.Timeout.D()
		}
	}
	return wait + time.Second
}

// Config returns the config being served.
func (g *Gateway) Config() *spec.Config { return g.table.Load().Config }

// apply compiles cfg with the stored runtime weights and swaps it in. Called
// with g.mu held, or before the gateway serves.
func (g *Gateway) apply(cfg *spec.Config, actor string) error {
	runtime, err := g.runtime.Weights()
	if err != nil {
		return fmt.Errorf("reading runtime weights: %w", err)
	}
	for name := range runtime {
		if !slices.ContainsFunc(cfg.Gateway.Spec.Routes, func(r spec.Route) bool { return r.Name == name }) {
			if err := g.dropWeights(name, runtime[name], actor, "route is no longer in the config"); err != nil {
				return err
			}
		}
	}
	managed, err := g.loadManagedRoutes()
	if err != nil {
		return err
	}
	g.generation++
	t, dropped, droppedManaged := g.pool.compile(cfg, runtime, managed, g.generation, g.metrics)
	for _, name := range dropped {
		if err := g.dropWeights(name, runtime[name], actor, "the route's backends changed in the config; its config weights apply"); err != nil {
			return err
		}
	}
	for name := range managed {
		if !slices.ContainsFunc(cfg.Gateway.Spec.Routes, func(r spec.Route) bool { return r.Name == name }) {
			droppedManaged = append(droppedManaged, name)
		}
	}
	for _, name := range droppedManaged {
		if _, err := g.runtime.SetManagedRoutes(name, nil, state.Event{
			Actor: actor, Action: "managed-routes.dropped", Target: name, Reason: "the route or its backends changed in the config", Before: mustJSON(managed[name]),
		}); err != nil {
			return err
		}
	}
	g.table.Store(t)
	g.pool.upstream.Retain(g.ctx, t.Config)
	g.refresh()
	return nil
}

func (g *Gateway) dropWeights(route string, rw state.RouteWeights, actor, reason string) error {
	_, err := g.runtime.SetWeights(route, nil, state.Event{
		Actor: actor, Action: "weights.dropped", Target: route, Reason: reason, Before: mustJSON(rw.Weights),
	})
	if err == nil {
		g.log.Warn("runtime weights dropped", "route", route, "reason", reason)
	}
	return err
}

// Reload reads the config file again and swaps it in. A config with any
// problem is refused whole and the running one keeps serving.
func (g *Gateway) Reload(actor string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.table.Load().Config
	cfg, err := spec.Load(g.files...)
	if err == nil {
		err = restartOnlyChanges(old, cfg)
	}
	if err == nil && cfg.Hash == old.Hash {
		g.lastReload = ReloadResult{Time: time.Now().UTC(), Actor: actor, OK: true, Hash: cfg.Hash}
		g.metrics.reloads.WithLabelValues("success").Inc()
		g.metrics.reloadOK.Set(1)
		return nil
	}
	if err == nil {
		err = g.apply(cfg, actor)
	}
	g.lastReload = ReloadResult{Time: time.Now().UTC(), Actor: actor, OK: err == nil}
	if err != nil {
		g.lastReload.Error = err.Error()
		g.metrics.reloads.WithLabelValues("failure").Inc()
		g.metrics.reloadOK.Set(0)
		g.log.Error("config reload refused; the running config keeps serving", "files", g.files, "err", err)
		g.runtime.Append(state.Event{Actor: actor, Action: "config.refused", Reason: err.Error()})
		if g.OnRefused != nil {
			g.OnRefused(err)
		}
		return err
	}
	g.lastReload.Hash = cfg.Hash
	g.metrics.reloads.WithLabelValues("success").Inc()
	g.metrics.reloadOK.Set(1)
	g.log.Info("config reloaded", "files", g.files, "generation", g.generation, "hash", cfg.Hash[:12])
	g.runtime.Append(state.Event{Actor: actor, Action: "config.reloaded", Before: mustJSON(old.Hash), After: mustJSON(cfg.Hash)})
	if g.OnReload != nil {
		g.OnReload(cfg)
	}
	return nil
}

// restartOnlyChanges refuses a reload that changes what only a restart can:
// the sockets and the server limits.
func restartOnlyChanges(old, cur *spec.Config) error {
	o, n := &old.Gateway.Spec, &cur.Gateway.Spec
	var errs spec.ErrorList
	for path, pair := range map[string][2]any{
		"spec.listeners":  {o.Listeners, n.Listeners},
		"spec.admin":      {o.Admin, n.Admin},
		"spec.limits":     {o.Limits, n.Limits},
		"spec.accessLog":  {o.AccessLog, n.AccessLog},
		"spec.chat.slack": {chatEndpoint(o), chatEndpoint(n)},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			errs = append(errs, &spec.FieldError{File: cur.File, Path: path, Msg: "changes need a restart; reload refused"})
		}
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
		return errs
	}
	return nil
}

// chatEndpoint is where chat commands are served, which only a restart
// changes; "" when they are not.
func chatEndpoint(s *spec.GatewaySpec) string {
	if s.Chat == nil || s.Chat.Slack == nil {
		return ""
	}
	return s.Chat.Slack.Address + s.Chat.Slack.Path
}

// SetWeights sets a route's weights at runtime. Backends the map leaves out
// get 0. The change is stored and synced before it is applied.
func (g *Gateway) SetWeights(route string, weights map[string]int, actor, reason string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.table.Load()
	rt := t.routeByName(route)
	if rt == nil {
		return &InputError{Field: "route", Msg: fmt.Sprintf("unknown route %q", route)}
	}
	names := make([]string, len(rt.backends))
	for i, b := range rt.backends {
		names[i] = b.Name
	}
	sum := 0
	for _, name := range slices.Sorted(maps.Keys(weights)) {
		w := weights[name]
		if !slices.Contains(names, name) {
			return &InputError{Field: "weights." + name, Msg: fmt.Sprintf("route %q has no backend %q (it has %v)", route, name, names)}
		}
		if w < 0 || w > 100 {
			return &InputError{Field: "weights." + name, Msg: fmt.Sprintf("%d must be between 0 and 100", w)}
		}
		sum += w
	}
	if sum != 100 {
		return &InputError{Field: "weights", Msg: fmt.Sprintf("weights add up to %d, not 100", sum)}
	}
	ordered := make([]int, len(names))
	full := map[string]int{}
	for i, name := range names {
		ordered[i] = weights[name]
		full[name] = weights[name]
	}
	if rt.runtime && slices.Equal(ordered, rt.weights) {
		return nil // nothing changes: nothing to write, no event
	}
	before := map[string]int{}
	for i, name := range names {
		before[name] = rt.weights[i]
	}
	_, err := g.runtime.SetWeights(route, &state.RouteWeights{Backends: names, Weights: full}, state.Event{
		Actor: actor, Action: "weights.set", Target: route, Reason: reason, Before: mustJSON(before), After: mustJSON(full),
	})
	if err != nil {
		return err
	}
	g.swap(t.withWeights(route, ordered, true, time.Now().UnixNano()))
	g.log.Info("weights set", "route", route, "weights", full, "actor", actor, "reason", reason)
	return nil
}

// ResetWeights drops a route's runtime weights so that the config's apply.
func (g *Gateway) ResetWeights(route, actor, reason string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.table.Load()
	rt := t.routeByName(route)
	if rt == nil {
		return &InputError{Field: "route", Msg: fmt.Sprintf("unknown route %q", route)}
	}
	var sr *spec.Route
	for i := range t.Config.Gateway.Spec.Routes {
		if t.Config.Gateway.Spec.Routes[i].Name == route {
			sr = &t.Config.Gateway.Spec.Routes[i]
		}
	}
	weights := make([]int, len(sr.Backends))
	after := map[string]int{}
	for i, b := range sr.Backends {
		weights[i] = *b.Weight
		after[b.Name] = *b.Weight
	}
	_, err := g.runtime.SetWeights(route, nil, state.Event{
		Actor: actor, Action: "weights.reset", Target: route, Reason: reason, After: mustJSON(after),
	})
	if err != nil {
		return err
	}
	g.swap(t.withWeights(route, weights, false, time.Now().UnixNano()))
	return nil
}

func (g *Gateway) swap(t *Table) {
	g.table.Store(t)
	g.refresh()
}

// healthChanged is called when an endpoint changed availability, often on a
// request's goroutine: it only wakes the refresh loop.
func (g *Gateway) healthChanged() {
	select {
	case g.refreshes <- struct{}{}:
	default: // a refresh is already due
	}
}

// refreshLoop applies health changes until the gateway stops. A panic in
// one refresh is logged and counted, and the loop goes on.
func (g *Gateway) refreshLoop() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.refreshes:
			loop.Guard(g.metrics.panicked(g.log, "health-refresh"), g.refresh)
		}
	}
}

// stopBackground ends health checks and the refresh loop.
func (g *Gateway) stopBackground() {
	g.cancel()
	g.pool.upstream.Stop()
}

// refresh recomputes the routes' splits after a health change and
// publishes the gauges.
func (g *Gateway) refresh() {
	g.healthMu.Lock()
	defer g.healthMu.Unlock()
	t := g.table.Load()
	if t == nil {
		return
	}
	now := time.Now().UnixNano()
	t.refresh(now)
	g.metrics.setTable(t, now)
}

// Run serves the listeners and the admin handler until ctx ends, then
// drains: /readyz turns 503 at once, listeners keep accepting for the drain
// delay, then close, and requests in flight get up to the shutdown timeout.
func (g *Gateway) Run(ctx context.Context, admin http.Handler) error {
	g.running.Store(true)
	defer g.stopBackground()
	s := g.table.Load().Config.Gateway.Spec
	servers, err := g.listen(s, admin)
	if err != nil {
		return err
	}
	g.addrs = map[string]string{}
	for _, srv := range servers {
		g.addrs[srv.name] = srv.ln.Addr().String()
	}
	close(g.started)
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.serve() }()
	}
	go g.watchFile(ctx)

	select {
	case <-ctx.Done():
	case err := <-errc:
		g.closeAll(servers)
		return err
	}
	g.ready.Store(false)
	g.log.Info("draining: readiness is now 503", "drainDelay", s.DrainDelay.D())
	for _, srv := range servers {
		srv.drain()
	}
	time.Sleep(s.DrainDelay.D())
	g.log.Info("closing listeners; waiting for requests in flight", "shutdownTimeout", s.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout.D())
	defer cancel()
	var wg sync.WaitGroup
	var shutdownErr error
	var errMu sync.Mutex
	for _, srv := range servers {
		if srv.admin {
			continue
		}
		wg.Go(func() {
			// Once the listeners are closed, a connection that has sent
			// nothing for a second is not going to bring a request.
			done := make(chan struct{})
			defer close(done)
			go func() {
				t := time.NewTicker(silentGrace)
				defer t.Stop()
				for {
					select {
					case <-done:
						return
					case <-t.C:
						srv.closeSilent(silentGrace)
					}
				}
			}()
			if err := srv.shutdown(sctx); err != nil {
				errMu.Lock()
				shutdownErr = errors.Join(shutdownErr, fmt.Errorf("%s: %w", srv.name, err))
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, srv := range servers {
		if srv.admin {
			actx, acancel := context.WithTimeout(context.Background(), time.Second)
			srv.http.Shutdown(actx)
			acancel()
		}
	}
	if g.proxy.log != nil {
		g.proxy.log.logger.Close() // every line of every answered request is written
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	g.log.Info("stopped")
	return nil
}

// ReopenLogs reopens access-log files, after an external rotation.
func (g *Gateway) ReopenLogs() {
	if g.proxy.log != nil {
		g.proxy.log.logger.Reopen()
	}
}

// silentGrace is how long, once the listeners are closed, a connection
// that has sent no byte is waited for.
const silentGrace = time.Second

// Started is closed once Run has opened the listeners.
func (g *Gateway) Started() <-chan struct{} { return g.started }

// Addr is the bound address of a listener, by name ("admin" for the admin
// API), once Started is closed; a ":0" in the config becomes the real port.
func (g *Gateway) Addr(name string) string {
	select {
	case <-g.started:
		return g.addrs[name]
	default:
		return ""
	}
}

// watchFile reloads when the config file's contents change. It polls, which
// also sees the symlink swaps of a Kubernetes ConfigMap volume and editors
// that replace the file.
func (g *Gateway) watchFile(ctx context.Context) {
	if g.WatchInterval <= 0 {
		return
	}
	last := g.table.Load().Config.Hash
	loop.Every(ctx, g.WatchInterval, g.metrics.panicked(g.log, "config-watch"), func() { last = g.reloadIfChanged(last) })
}

// reloadIfChanged reloads when the files' hash differs from last, and
// returns the hash it saw.
func (g *Gateway) reloadIfChanged(last string) string {
	srcs := make([]spec.Source, 0, len(g.files))
	for _, f := range g.files {
		data, err := os.ReadFile(f)
		if err != nil {
			return last
		}
		srcs = append(srcs, spec.Source{File: f, Data: data})
	}
	hash := spec.HashSources(srcs)
	if hash == last {
		return last
	}
	g.Reload("file-watch")
	return hash
}

func mustJSON(v any) json.RawMessage {
	data, _ := json.Marshal(v)
	return data
}
