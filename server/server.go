package server

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/datadog"
	"github.com/cutover-dev/cutover/analysis/load"
	"github.com/cutover-dev/cutover/analysis/prometheus"
	"github.com/cutover-dev/cutover/analysis/web"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/traffic"
	"github.com/cutover-dev/cutover/traffic/gatewayrouter"
	"github.com/cutover-dev/cutover/traffic/remote"
)

// Server is a gateway with its plans and admin API.
type Server struct {
	Gateway  *gateway.Gateway
	Rollouts *rollout.Manager
	Admin    *admin.API
}

// New loads the config, starts its plans (resuming them from store) and
// returns the server; Run serves it. ctx bounds the background work.
func New(ctx context.Context, files []string, store *state.Store, token string, log *slog.Logger) (*Server, error) {
	gw, err := gateway.New(ctx, files, store, log)
	if err != nil {
		return nil, err
	}
	providers := analysis.ProviderSet{
		Gateway:    analysis.NewGatewayProvider(gatewayrouter.Source{GW: gw}),
		Prometheus: prometheus.Provider{},
		Load:       load.Provider{},
		Web:        web.Provider{},
		Datadog:    datadog.Provider{},
	}
	m := rollout.NewManager(rollout.BoltStore(store), providers, log, gw.Metrics().Registry)
	routerFor := func(p *rollout.Plan) traffic.Router {
		actor := "rollout/" + p.Name
		local := gatewayrouter.New(gw, p.Route, p.Stable, p.Canary, actor)
		if len(p.Remotes) == 0 {
			return local
		}
		routers := traffic.Multi{local}
		for _, rg := range p.Remotes {
			token, err := os.ReadFile(rg.TokenFile)
			if err != nil {
				log.Error("reading a remote gateway's token", "rollout", p.Name, "err", err)
			}
			routers = append(routers, remote.New(rg.Admin, strings.TrimSpace(string(token)), p.Route, p.Stable, p.Canary, actor))
		}
		return routers
	}
	if err := m.Sync(ctx, gw.Config(), routerFor); err != nil {
		return nil, err
	}
	gw.OnReload = func(cfg *spec.Config) {
		if err := m.Sync(ctx, cfg, routerFor); err != nil {
			log.Error("updating plans after a reload", "err", err)
		}
	}
	return &Server{Gateway: gw, Rollouts: m, Admin: admin.New(gw, m, token, log)}, nil
}

// Run serves until ctx ends, then drains (see gateway.Run).
func (s *Server) Run(ctx context.Context) error {
	planCtx, stopPlans := context.WithCancel(ctx)
	defer stopPlans()
	go s.Rollouts.Run(planCtx)
	return s.Gateway.Run(ctx, s.Admin)
}
