package convert

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/cutover-dev/cutover/spec"
)

// Kinds of step and strategy fields a Cutover takes; the rest of Argo's
// concern pods and are left out with a note.
var (
	cutoverSteps     = []string{"setWeight", "pause", "setHeaderRoute", "setMirrorRoute", "analysis"}
	cutoverCanary    = []string{"steps", "analysis"}
	cutoverBlueGreen = []string{"autoPromotionEnabled", "autoPromotionSeconds", "prePromotionAnalysis", "postPromotionAnalysis"}
	cutoverAnalysis  = []string{"templates", "args"}
)

// ArgoKube converts Argo Rollouts documents into Cutover resources for
// cutover-kube: each Rollout's Services become the stable and canary
// sides, its Istio VirtualService or Gateway API HTTPRoute the traffic
// routing, the templates in the input its analysisTemplates (others are
// read from the cluster by name, as Argo's). What a Cutover cannot hold is
// in the notes.
func ArgoKube(srcs []spec.Source) ([]byte, []Note, error) {
	c := &argoConversion{backends: map[string]bool{}}
	in, err := c.read(srcs, true)
	if err != nil {
		return nil, nil, err
	}
	if len(in.rollouts) == 0 {
		return nil, c.notes, errors.New("no Rollout found")
	}
	var templates []*yaml.Node
	for _, d := range in.templates {
		templates = append(templates, mapNode("name", scalar(field(mapping(d.node, "metadata"), "name")), "spec", orEmpty(mapping(d.node, "spec"))))
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, d := range in.rollouts {
		co, err := c.cutover(d, templates)
		if err != nil {
			c.sortNotes(srcs)
			return nil, c.notes, err
		}
		if err := enc.Encode(co); err != nil {
			return nil, nil, err
		}
	}
	enc.Close()
	c.sortNotes(srcs)
	return out.Bytes(), c.notes, nil
}

func (c *argoConversion) cutover(d located, templates []*yaml.Node) (*yaml.Node, error) {
	md := mapping(d.node, "metadata")
	name := field(md, "name")
	meta := mapNode("name", scalar(name))
	if ns := field(md, "namespace"); ns != "" {
		meta.Content = append(meta.Content, scalar("namespace"), scalar(ns))
	}
	strategy := mapping(mapping(d.node, "spec"), "strategy")
	canary, blueGreen := mapping(strategy, "canary"), mapping(strategy, "blueGreen")
	var stable, next string
	var strat *yaml.Node
	var tr *yaml.Node
	switch {
	case canary != nil:
		stable, next = field(canary, "stableService"), field(canary, "canaryService")
		tr = mapping(canary, "trafficRouting")
		strat = mapNode("canary", c.keep(d.file, canary, "strategy.canary", cutoverCanary))
		if steps := mapping(canary, "steps"); steps != nil {
			kept := seq()
			for i, st := range steps.Content {
				k := keys(st)
				if len(k) != 1 || !slices.Contains(cutoverSteps, k[0]) {
					c.noteAt(d.file, st, "strategy.canary.steps[%d] (%v) left out: a Cutover's steps move traffic only", i, k)
					continue
				}
				if a := mapping(st, "analysis"); a != nil {
					st = mapNode("analysis", c.keep(d.file, a, fmt.Sprintf("strategy.canary.steps[%d].analysis", i), cutoverAnalysis))
				}
				kept.Content = append(kept.Content, st)
			}
			set(value(strat, "canary"), "steps", kept)
		}
	case blueGreen != nil:
		stable, next = field(blueGreen, "activeService"), field(blueGreen, "previewService")
		strat = mapNode("blueGreen", c.keep(d.file, blueGreen, "strategy.blueGreen", cutoverBlueGreen))
	default:
		return nil, fmt.Errorf("%s:%d: Rollout %s has neither spec.strategy.canary nor spec.strategy.blueGreen (Argo refuses it too)", d.file, d.node.Line, name)
	}
	dr := mapping(mapping(tr, "istio"), "destinationRule")
	if stable == "" && next == "" && dr != nil {
		// Subset-level splitting: both sides are the DestinationRule's host.
		host := c.hosts["DestinationRule/"+field(dr, "name")]
		if host == "" {
			host = c.hosts["VirtualService/"+field(mapping(mapping(tr, "istio"), "virtualService"), "name")]
		}
		if host == "" {
			return nil, fmt.Errorf("%s:%d: Rollout %s splits by DestinationRule subsets: give its DestinationRule (or VirtualService) in the input too, for the Service both sides are", d.file, d.node.Line, name)
		}
		stable, next = host, host
	}
	if stable == "" || next == "" {
		return nil, fmt.Errorf("%s:%d: Rollout %s: a Cutover moves traffic between two Services; name both (stableService and canaryService, or activeService and previewService)", d.file, d.node.Line, name)
	}
	routing, assumed, err := kubeRouting(tr)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: Rollout %s: %v", d.file, d.node.Line, name, err)
	}
	if assumed {
		c.note(d, "Rollout %s: its VirtualService names no routes (Argo then takes its only route): assumed [primary]; name the route in spec.trafficRouting.istio.virtualService.routes", name)
	}
	specNode := mapNode("stable", flow(mapNode("service", scalar(stable))), "canary", flow(mapNode("service", scalar(next))), "strategy", strat)
	if len(templates) > 0 {
		specNode.Content = append(specNode.Content, scalar("analysisTemplates"), seq(templates...))
	}
	specNode.Content = append(specNode.Content, scalar("trafficRouting"), routing)
	return mapNode("apiVersion", scalar(spec.APIVersion), "kind", scalar("Cutover"), "metadata", meta, "spec", specNode), nil
}

// keep copies the fields of n a Cutover takes, noting the others.
func (c *argoConversion) keep(file string, n *yaml.Node, path string, allowed []string) *yaml.Node {
	out := mapNode()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		switch {
		case slices.Contains(allowed, k):
			out.Content = append(out.Content, n.Content[i], n.Content[i+1])
		case k == "stableService" || k == "canaryService" || k == "activeService" || k == "previewService" || k == "trafficRouting":
			// Carried as the sides and the routing.
		default:
			c.noteAt(file, n.Content[i], "%s.%s left out: a Cutover has no such field", path, k)
		}
	}
	return out
}

// kubeRouting is a Cutover's trafficRouting from Argo's; assumed says a
// VirtualService's route name was guessed.
func kubeRouting(tr *yaml.Node) (routing *yaml.Node, assumed bool, err error) {
	if istio := mapping(tr, "istio"); istio != nil {
		vs := mapping(istio, "virtualService")
		if vs == nil {
			if vss := mapping(istio, "virtualServices"); vss != nil && len(vss.Content) > 0 {
				vs = vss.Content[0]
			}
		}
		if name := field(vs, "name"); name != "" {
			routes := mapping(vs, "routes")
			if routes == nil || len(routes.Content) == 0 {
				routes, assumed = seq(scalar("primary")), true
			}
			istioNode := mapNode("virtualService", flow(mapNode("name", scalar(name), "routes", flow(routes))))
			if dr := mapping(istio, "destinationRule"); dr != nil {
				istioNode.Content = append(istioNode.Content, scalar("destinationRule"), flow(mapNode("name", scalar(field(dr, "name")),
					"stableSubset", scalar(field(dr, "stableSubsetName")), "canarySubset", scalar(field(dr, "canarySubsetName")))))
			}
			return mapNode("istio", istioNode), assumed, nil
		}
	}
	if gw := mapping(mapping(tr, "plugins"), "argoproj-labs/gatewayAPI"); gw != nil {
		name := field(gw, "httpRoute")
		if hrs := mapping(gw, "httpRoutes"); name == "" && hrs != nil && len(hrs.Content) > 0 {
			name = field(hrs.Content[0], "name")
		}
		if name != "" {
			return mapNode("gatewayAPI", mapNode("httpRoute", flow(mapNode("name", scalar(name))))), false, nil
		}
	}
	return nil, false, errors.New("cutover-kube routes through an Istio VirtualService or a Gateway API HTTPRoute: its trafficRouting names neither")
}

// meshHost records the host of an Istio DestinationRule (spec.host) or
// VirtualService (its first route's destination).
func meshHost(n *yaml.Node, kind string, hosts map[string]string) {
	name, sp := field(mapping(n, "metadata"), "name"), mapping(n, "spec")
	switch kind {
	case "DestinationRule":
		if h := field(sp, "host"); h != "" {
			hosts["DestinationRule/"+name] = h
		}
	case "VirtualService":
		if http := mapping(sp, "http"); http != nil && len(http.Content) > 0 {
			if route := mapping(http.Content[0], "route"); route != nil && len(route.Content) > 0 {
				if h := field(mapping(route.Content[0], "destination"), "host"); h != "" {
					hosts["VirtualService/"+name] = h
				}
			}
		}
	}
}

func orEmpty(n *yaml.Node) *yaml.Node {
	if n == nil {
		return mapNode()
	}
	return n
}
