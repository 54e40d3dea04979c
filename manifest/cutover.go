package manifest

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/manifest/templates"
	"github.com/cutover-dev/cutover/spec"
)

// cutoverDocuments are the cutover Gateway and Rollout that move a service
// still being migrated from its legacy endpoints to the cluster, so that
// the config that describes the service also drives its cut-over. They are
// checked with cutover's own config loader before they are written.
func cutoverDocuments(defs *templates.Definitions, env string, svc *config.ServiceConfig, m *config.Migration) ([]byte, error) {
	cfg := svc.Resolve(env)
	ns := defs.Namespace
	if e := defs.Environments[env]; e.Namespace != "" {
		ns = e.Namespace
	}
	target := svc.Name
	if cfg.Rollout != nil {
		target += "-stable"
	}
	listen := m.Listen
	if listen == "" {
		listen = "0.0.0.0:8080"
	}
	var legacy []any
	for _, ep := range m.Legacy {
		legacy = append(legacy, "http://"+ep)
	}
	var match []any
	for _, p := range svc.Paths {
		match = append(match, map[string]any{"path": map[string]any{"prefix": p}})
	}
	route := map[string]any{
		"name":     svc.Name,
		"backends": []any{map[string]any{"name": "legacy", "weight": 100}, map[string]any{"name": "new", "weight": 0}},
	}
	if len(match) > 0 {
		route["match"] = match
	}
	env0 := &templates.Input{Service: svc, Env: env, Defs: defs}
	if hosts := env0.Hosts(); len(hosts) > 0 {
		route["hosts"] = toAny(hosts)
	}
	gateway := map[string]any{
		"apiVersion": "cutover.dev/v1alpha1", "kind": "Gateway",
		"metadata": map[string]any{"name": svc.Name},
		"spec": map[string]any{
			"listeners": []any{map[string]any{"name": "http", "address": listen}},
			"backends": []any{
				map[string]any{"name": "legacy", "endpoints": legacy, "healthCheck": map[string]any{"path": defs.HealthPath}},
				map[string]any{
					"name":        "new",
					"version":     cfg.Version,
					"endpoints":   []any{fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", target, ns, defs.ServicePort)},
					"healthCheck": map[string]any{"path": defs.HealthPath},
				},
			},
			"routes": []any{route},
		},
	}
	steps := m.Steps
	if len(steps) == 0 && cfg.Rollout != nil {
		steps = cfg.Rollout.Steps
	}
	var planSteps []any
	for _, s := range steps {
		switch {
		case s.SetWeight != nil:
			planSteps = append(planSteps, map[string]any{"setWeight": *s.SetWeight})
		case s.Pause != nil && s.Pause.Duration != nil:
			planSteps = append(planSteps, map[string]any{"pause": map[string]any{"duration": templates.ArgoDuration(s.Pause.Duration.D())}})
		case s.Pause != nil:
			planSteps = append(planSteps, map[string]any{"pause": map[string]any{}})
		}
	}
	planSteps = append(planSteps, map[string]any{"setWeight": 100})
	rollout := map[string]any{
		"apiVersion": "cutover.dev/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": svc.Name},
		"spec": map[string]any{
			"route":    svc.Name,
			"strategy": map[string]any{"canary": map[string]any{"stableService": "legacy", "canaryService": "new", "steps": planSteps}},
		},
	}
	var b bytes.Buffer
	for i, doc := range []map[string]any{gateway, rollout} {
		if i > 0 {
			b.WriteString("---\n")
		}
		data, err := yaml.Marshal(doc)
		if err != nil {
			return nil, err
		}
		b.Write(data)
	}
	if _, err := spec.ParseSources([]spec.Source{{File: fmt.Sprintf("cutover/%s/%s.yaml", env, svc.Name), Data: b.Bytes()}}); err != nil {
		return nil, fmt.Errorf("%s: %s: migration: the generated cutover config is invalid: %w", svc.File, env, err)
	}
	return b.Bytes(), nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
