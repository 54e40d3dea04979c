package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/datadog"
	"github.com/cutover-dev/cutover/analysis/load"
	"github.com/cutover-dev/cutover/analysis/prometheus"
	"github.com/cutover-dev/cutover/analysis/web"
	"github.com/cutover-dev/cutover/chat"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/notify"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/traffic"
	"github.com/cutover-dev/cutover/traffic/gatewayrouter"
	"github.com/cutover-dev/cutover/traffic/remote"
)

// Server is a gateway with its plans and admin API.
type Server struct {
	Gateway       *gateway.Gateway
	Rollouts      *rollout.Manager
	Admin         *admin.API
	Notifications *notify.Dispatcher
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
	notes := notify.New(log, gw.Metrics().Registry)
	notes.Set(notificationsOf(gw.Config()))
	m.Notify = notes.Send
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
	api := admin.New(gw, m, token, log)
	slack, err := chatCommands(gw, api, m, store, log)
	if err != nil {
		return nil, err
	}
	gw.OnReload = func(cfg *spec.Config) {
		notes.Set(notificationsOf(cfg))
		if slack != nil {
			if err := configureSlack(slack, cfg.Gateway.Spec.Chat.Slack); err != nil {
				log.Error("chat commands keep the signing secret they had", "err", err)
			}
		}
		if err := m.Sync(ctx, cfg, routerFor); err != nil {
			log.Error("updating plans after a reload", "err", err)
		}
	}
	gw.OnRefused = func(err error) {
		notes.Broadcast(notify.Event{Kind: spec.EventConfigRefused, Reason: err.Error(), Time: time.Now()})
	}
	return &Server{Gateway: gw, Rollouts: m, Admin: api, Notifications: notes}, nil
}

// chatCommands serves the config's Slack command endpoint, on its own
// listener or on the admin one; nil when the config has none.
func chatCommands(gw *gateway.Gateway, api *admin.API, m *rollout.Manager, store *state.Store, log *slog.Logger) (*chat.Slack, error) {
	c := gw.Config().Gateway.Spec.Chat
	if c == nil {
		return nil, nil
	}
	audit := func(ev state.Event) {
		if _, err := store.Append(ev); err != nil {
			log.Error("recording a refused chat command", "err", err)
		}
	}
	slack := chat.NewSlack(m, audit, log)
	if err := configureSlack(slack, c.Slack); err != nil {
		return nil, err
	}
	if c.Slack.Address != "" {
		gw.Chat = slackAt(c.Slack.Path, slack)
	} else {
		api.HandleChat(c.Slack.Path, slack)
	}
	return slack, nil
}

// slackAt serves h at path only.
func slackAt(path string, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	return mux
}

func configureSlack(s *chat.Slack, c *spec.SlackCommands) error {
	secret, err := os.ReadFile(c.SigningSecretFile)
	if err != nil {
		return fmt.Errorf("spec.chat.slack.signingSecretFile: %w", err)
	}
	secret = bytes.TrimSpace(secret)
	if len(secret) == 0 {
		return fmt.Errorf("spec.chat.slack.signingSecretFile: %s is empty", c.SigningSecretFile)
	}
	s.SetConfig(secret, c.Allow)
	return nil
}

func notificationsOf(cfg *spec.Config) map[string][]spec.Notification {
	out := map[string][]spec.Notification{}
	for _, r := range cfg.Rollouts {
		out[r.Metadata.Name] = r.Spec.Notifications
	}
	return out
}

// Run serves until ctx ends, then drains (see gateway.Run).
func (s *Server) Run(ctx context.Context) error {
	planCtx, stopPlans := context.WithCancel(ctx)
	defer stopPlans()
	go s.Rollouts.Run(planCtx)
	err := s.Gateway.Run(ctx, s.Admin)
	// What the plans said last (an abort as the gateway stopped, say) is
	// still sent, for a while.
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Notifications.Close(closeCtx)
	return err
}
