package convert

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cutover-dev/cutover/spec"
)

// Note is something a conversion left out or assumed, at its place in the
// input.
type Note struct {
	File string
	Line int
	Msg  string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Msg) }

// Argo converts Argo Rollouts documents: every Rollout becomes a plan on a
// route of its own, over a backend for each side, and every
// AnalysisTemplate and ClusterAnalysisTemplate an AnalysisTemplate. The
// fields are carried over as written, so that `cutover validate` judges
// them (warning on those that only concern pods); what cannot be carried
// over is in the notes. The output is one config: a Gateway document, then
// the plans and templates.
func Argo(srcs []spec.Source) ([]byte, []Note, error) {
	c := &argoConversion{backends: map[string]bool{}}
	in, err := c.read(srcs, false)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range in.templates {
		c.templates = append(c.templates, c.template(d, field(d.node, "kind")))
	}
	for _, d := range in.rollouts {
		c.rollouts = append(c.rollouts, c.rollout(d))
	}
	c.sortNotes(srcs)
	if len(c.failed) > 0 {
		return nil, c.notes, errors.New(strings.Join(c.failed, "\n"))
	}
	if len(c.rollouts) == 0 && len(c.templates) == 0 {
		return nil, c.notes, errors.New("no Rollout, AnalysisTemplate or ClusterAnalysisTemplate found")
	}
	docs := append(c.rollouts, c.templates...)
	if len(c.rollouts) > 0 {
		// Templates alone join a config that has its Gateway already.
		docs = append([]*yaml.Node{c.gateway()}, docs...)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return nil, nil, err
		}
	}
	enc.Close()
	return out.Bytes(), c.notes, nil
}

// argoInput is a set of Argo files sorted for a conversion.
type argoInput struct {
	rollouts, templates []located
}

// read sorts srcs' documents into Rollouts and templates, and keeps what
// the plans may need of the others (a Service's port, an Istio object's
// host); the other kinds are noted as left out, Services too when
// noteServices.
func (c *argoConversion) read(srcs []spec.Source, noteServices bool) (*argoInput, error) {
	in := &argoInput{}
	c.ports, c.hosts = map[string]int{}, map[string]string{}
	for _, src := range srcs {
		docs, err := documents(src)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			switch kind := field(d.node, "kind"); kind {
			case "Rollout":
				in.rollouts = append(in.rollouts, d)
			case "AnalysisTemplate", "ClusterAnalysisTemplate":
				in.templates = append(in.templates, d)
			case "Service":
				name := field(mapping(d.node, "metadata"), "name")
				if ports := mapping(mapping(d.node, "spec"), "ports"); name != "" && ports != nil && len(ports.Content) > 0 {
					if p, err := strconv.Atoi(field(ports.Content[0], "port")); err == nil {
						c.ports[name] = p
					}
				}
				if noteServices {
					c.note(d, "kind %s is not a plan or an analysis template: left out", kind)
				}
			default:
				c.note(d, "kind %s is not a plan or an analysis template: left out", orNone(kind))
				meshHost(d.node, kind, c.hosts)
			}
		}
	}
	return in, nil
}

// sortNotes puts the notes in the order of the input: file, then line.
func (c *argoConversion) sortNotes(srcs []spec.Source) {
	order := map[string]int{}
	for i, src := range srcs {
		order[src.File] = i
	}
	slices.SortStableFunc(c.notes, func(a, b Note) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line))
	})
}

type located struct {
	file string
	node *yaml.Node
}

type argoConversion struct {
	notes     []Note
	failed    []string
	rollouts  []*yaml.Node
	templates []*yaml.Node
	routes    []route
	backends  map[string]bool
	order     []string          // backends in the order first named
	ports     map[string]int    // Service ports from the input
	hosts     map[string]string // DestinationRule and VirtualService hosts, by kind/name
}

type route struct{ name, stable, canary string }

func (c *argoConversion) note(d located, format string, args ...any) {
	c.notes = append(c.notes, Note{File: d.file, Line: d.node.Line, Msg: fmt.Sprintf(format, args...)})
}

func (c *argoConversion) noteAt(file string, n *yaml.Node, format string, args ...any) {
	c.notes = append(c.notes, Note{File: file, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func (c *argoConversion) template(d located, kind string) *yaml.Node {
	n := d.node
	set(n, "apiVersion", scalar(spec.APIVersion))
	c.ensureName(d, fmt.Sprintf("template-%d", len(c.templates)+1))
	if kind == "ClusterAnalysisTemplate" {
		set(n, "kind", scalar(spec.KindAnalysisTemplate))
		c.note(d, "ClusterAnalysisTemplate %s became an AnalysisTemplate: the gateway's templates have one scope", field(mapping(n, "metadata"), "name"))
	}
	c.metadata(d)
	return n
}

// ensureName gives a document without metadata.name (a fragment of
// Argo's documentation, say) the name fallback, and returns its name.
func (c *argoConversion) ensureName(d located, fallback string) string {
	if name := field(mapping(d.node, "metadata"), "name"); name != "" {
		return name
	}
	if mapping(d.node, "metadata") == nil {
		set(d.node, "metadata", mapNode())
	}
	set(mapping(d.node, "metadata"), "name", scalar(fallback))
	c.note(d, "no metadata.name: named %s", fallback)
	return fallback
}

// metadata keeps the name and labels; the rest concerns Kubernetes.
func (c *argoConversion) metadata(d located) {
	md := mapping(d.node, "metadata")
	if md == nil {
		return
	}
	for _, k := range keys(md) {
		if k != "name" && k != "labels" {
			c.noteAt(d.file, key(md, k), "metadata.%s left out", k)
			remove(md, k)
		}
	}
}

func (c *argoConversion) rollout(d located) *yaml.Node {
	n := d.node
	set(n, "apiVersion", scalar(spec.APIVersion))
	c.metadata(d)
	if st := key(n, "status"); st != nil {
		c.noteAt(d.file, st, "status left out: it is Argo's record of a run")
		remove(n, "status")
	}
	name := c.ensureName(d, fmt.Sprintf("rollout-%d", len(c.rollouts)+1))
	sp := mapping(n, "spec")
	if sp == nil {
		c.failed = append(c.failed, fmt.Sprintf("%s:%d: Rollout %s has no spec", d.file, n.Line, name))
		return n
	}
	strategy := mapping(sp, "strategy")
	canary, blueGreen := mapping(strategy, "canary"), mapping(strategy, "blueGreen")
	var r route
	switch {
	case canary != nil:
		r.name = routeName(mapping(canary, "trafficRouting"), name)
		name = shorten(name, len("-canary"))
		if tr := key(canary, "trafficRouting"); tr != nil {
			c.noteAt(d.file, tr, "strategy.canary.trafficRouting left out: the gateway routes the traffic itself, on route %q", r.name)
			remove(canary, "trafficRouting")
		}
		r.stable = c.side(d, canary, "stableService", name+"-stable")
		r.canary = c.side(d, canary, "canaryService", name+"-canary")
	case blueGreen != nil:
		r.name = name
		name = shorten(name, len("-preview"))
		r.stable = c.side(d, blueGreen, "activeService", name+"-active")
		r.canary = c.side(d, blueGreen, "previewService", name+"-preview")
	default:
		c.failed = append(c.failed, fmt.Sprintf("%s:%d: Rollout %s has neither spec.strategy.canary nor spec.strategy.blueGreen (Argo refuses it too)", d.file, n.Line, name))
		return n
	}
	for slices.ContainsFunc(c.routes, func(o route) bool { return o.name == r.name }) {
		r.name += "-" + name
	}
	c.routes = append(c.routes, r)
	// spec.route first, where a reader looks for it.
	sp.Content = append([]*yaml.Node{scalar("route"), scalar(r.name)}, sp.Content...)
	return n
}

// side is a plan's backend: the Service the strategy names, or one named
// after the Rollout when it names none (Argo then moves pods, not traffic).
func (c *argoConversion) side(d located, strategy *yaml.Node, key, fallback string) string {
	svc := field(strategy, key)
	if svc == "" {
		svc = fallback
		set(strategy, key, scalar(svc))
		c.note(d, "no %s: backend %q stands for the pods Argo would run; point its endpoint at them", key, svc)
	}
	if !c.backends[svc] {
		c.backends[svc] = true
		c.order = append(c.order, svc)
	}
	return svc
}

// routeName is the route a canary's trafficRouting names: the Istio
// VirtualService, the Gateway API HTTPRoute, the Ingress, the SMI
// TrafficSplit, the Traefik service; else the Rollout's name.
func routeName(tr *yaml.Node, rollout string) string {
	if tr == nil {
		return rollout
	}
	if istio := mapping(tr, "istio"); istio != nil {
		if name := field(mapping(istio, "virtualService"), "name"); name != "" {
			return name
		}
		if vss := mapping(istio, "virtualServices"); vss != nil && len(vss.Content) > 0 {
			if name := field(vss.Content[0], "name"); name != "" {
				return name
			}
		}
	}
	if gw := mapping(mapping(tr, "plugins"), "argoproj-labs/gatewayAPI"); gw != nil {
		if name := field(gw, "httpRoute"); name != "" {
			return name
		}
		if hrs := mapping(gw, "httpRoutes"); hrs != nil && len(hrs.Content) > 0 {
			if name := field(hrs.Content[0], "name"); name != "" {
				return name
			}
		}
	}
	for _, p := range [][2]string{{"nginx", "stableIngress"}, {"alb", "ingress"}, {"smi", "trafficSplitName"}, {"traefik", "weightedTraefikServiceName"}} {
		if name := field(mapping(tr, p[0]), p[1]); name != "" {
			return name
		}
	}
	return rollout
}

// gateway is the Gateway document: a backend per Service the plans name,
// at the Service's address in the cluster, and a route per plan with all
// traffic on the stable side.
func (c *argoConversion) gateway() *yaml.Node {
	backends := seq()
	for _, b := range c.order {
		port := 80
		if p, ok := c.ports[b]; ok {
			port = p
		}
		endpoint := fmt.Sprintf("http://%s:%d", b, port)
		backends.Content = append(backends.Content, flow(mapNode("name", scalar(b), "endpoints", flow(seq(scalar(endpoint))))))
	}
	routes := seq()
	for _, r := range c.routes {
		routes.Content = append(routes.Content, mapNode("name", scalar(r.name), "backends", seq(
			flow(mapNode("name", scalar(r.stable), "weight", scalar("100"))),
			flow(mapNode("name", scalar(r.canary), "weight", scalar("0"))))))
	}
	name := "argo"
	if len(c.routes) > 0 {
		name = c.routes[0].name
	}
	specNode := mapNode("listeners", seq(flow(mapNode("address", scalar(":8080")))), "backends", backends, "routes", routes)
	specNode.Content[2].HeadComment = "The Services' addresses in the cluster; point them where the versions run."
	return mapNode("apiVersion", scalar(spec.APIVersion), "kind", scalar(spec.KindGateway), "metadata", flow(mapNode("name", scalar(name))), "spec", specNode)
}

func documents(src spec.Source) ([]located, error) {
	var out []located
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.File, err)
		}
		if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
			continue
		}
		out = append(out, located{file: src.File, node: root.Content[0]})
	}
}

// shorten cuts a name so that a suffix of n bytes keeps it within the
// 63 bytes of a name.
func shorten(name string, n int) string {
	if len(name)+n <= 63 {
		return name
	}
	return strings.TrimRight(name[:63-n], "-._")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
