package templates

// Definitions are the fixed values every template shares: namespaces,
// ports, gateway hosts, node roles, label keys. config/definitions.yaml
// overrides any of DefaultDefinitions' fields.
type Definitions struct {
	// File is where the definitions were read from, empty for the defaults.
	File string `yaml:"-"`

	Namespace string `yaml:"namespace"`
	PartOf    string `yaml:"partOf"`
	ManagedBy string `yaml:"managedBy"`
	// Environments lists every environment a service may be deployed to.
	Environments map[string]Environment `yaml:"environments"`
	// ServicePort is the port every Service exposes; it targets the
	// container port named "http".
	ServicePort int `yaml:"servicePort"`
	// HealthPath is probed for readiness and liveness.
	HealthPath string            `yaml:"healthPath"`
	Gateway    GatewayDefinition `yaml:"gateway"`
	NodeRoles  NodeRoles         `yaml:"nodeRoles"`
	// ResourceFloor is the least a container may request.
	ResourceFloor ResourceFloor `yaml:"resourceFloor"`
	// Sidecar is what the injected istio-proxy requests and is limited to;
	// it is set on each pod and counted in the report.
	Sidecar  Sidecar  `yaml:"sidecar"`
	Shutdown Shutdown `yaml:"shutdown"`
	ArgoCD   ArgoCD   `yaml:"argocd"`
	// RateLimitService is the global rate-limit service's Envoy cluster.
	RateLimitService RateLimitService `yaml:"rateLimitService"`
}

// Environment is one place services are deployed to.
type Environment struct {
	// Domain is appended to a service's host names: www → www.example.com.
	Domain string `yaml:"domain"`
	// Colour names the cluster when clusters are upgraded blue/green; each
	// host also gets www.<colour>.<domain>, to reach this cluster directly.
	Colour string `yaml:"colour"`
	// Colours are every cluster colour of the environment. Each cluster's
	// gateway answers the public host and every colour's host, so that
	// either cluster can be reached by name before, during and after a
	// switch; empty means Colour alone.
	Colours []string `yaml:"colours"`
	// Namespace overrides Definitions.Namespace.
	Namespace string `yaml:"namespace"`
	// Branch is the git revision Argo CD deploys this environment from.
	Branch string `yaml:"branch"`
	// Server is the cluster's API server as Argo CD knows it.
	Server string `yaml:"server"`
}

// AllColours are the environment's cluster colours, this cluster's first.
func (e Environment) AllColours() []string {
	var out []string
	if e.Colour != "" {
		out = append(out, e.Colour)
	}
	for _, c := range e.Colours {
		if c != e.Colour {
			out = append(out, c)
		}
	}
	return out
}

// GatewayDefinition names the Istio ingress gateway the services' routes
// attach to.
type GatewayDefinition struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	Port      int    `yaml:"port"`
	// Selector selects the gateway's pods.
	Selector map[string]string `yaml:"selector"`
}

// NodeRoles are the node label that separates gateway nodes from workers
// (handbook §18.1) and its values.
type NodeRoles struct {
	LabelKey string `yaml:"labelKey"`
	Worker   string `yaml:"worker"`
	Gateway  string `yaml:"gateway"`
}

// ResourceFloor holds minimum requests, as Kubernetes quantities.
type ResourceFloor struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

// Sidecar sizes the injected istio-proxy.
type Sidecar struct {
	CPU         string `yaml:"cpu"`
	Memory      string `yaml:"memory"`
	CPULimit    string `yaml:"cpuLimit"`
	MemoryLimit string `yaml:"memoryLimit"`
}

// Shutdown is the graceful-shutdown budget (handbook §19.1): the preStop
// sleep lets endpoints be removed before SIGTERM reaches the application.
type Shutdown struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	PreStopSleepSeconds           int `yaml:"preStopSleepSeconds"`
}

// ArgoCD places the app-of-apps (handbook §6).
type ArgoCD struct {
	RepoURL   string `yaml:"repoURL"`
	Project   string `yaml:"project"`
	Namespace string `yaml:"namespace"`
	// Root is the path of the generated tree inside the repository.
	Root string `yaml:"root"`
	// SlackChannel receives Argo CD notifications when set.
	SlackChannel string `yaml:"slackChannel"`
}

// RateLimitService is the global rate-limit service of each environment
// (handbook §12.2): `cutover ratelimit serve`, generated with the limits of
// every service that has a global limit, and where Envoy sends its checks.
type RateLimitService struct {
	// Deploy false generates only the gateway's filter, for a service run
	// elsewhere; default true.
	Deploy *bool `yaml:"deploy"`
	// Name of its Deployment, Service and overlay directory.
	Name     string `yaml:"name"`
	Image    string `yaml:"image"`
	Replicas int    `yaml:"replicas"`
	// Domain is the gateway's one rate-limit domain; empty takes the one
	// the services name, which must then agree.
	Domain string `yaml:"domain"`
	Redis  Redis  `yaml:"redis"`
	// Cluster and Authority are the service's Envoy cluster; empty derives
	// them from Name and the namespace, as Istio names it.
	Cluster   string `yaml:"cluster"`
	Authority string `yaml:"authority"`
	Timeout   string `yaml:"timeout"`
}

// Redis is where the rate-limit service keeps its counters.
type Redis struct {
	// Address is host:port; several, comma-separated, for a cluster.
	Address string `yaml:"address"`
	// Type is single, cluster or sentinel (then Address is
	// master@host:port,...).
	Type string `yaml:"type"`
	// AuthSecret holds the password, or user:password.
	AuthSecret *SecretKey `yaml:"authSecret"`
	TLS        bool       `yaml:"tls"`
	// CASecret holds the CA that signed Redis's certificate, when TLS.
	CASecret *SecretKey `yaml:"caSecret"`
}

// SecretKey names one key of a Secret in the service's namespace.
type SecretKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// Deployed reports whether the rate-limit service itself is generated.
func (r RateLimitService) Deployed() bool { return r.Deploy == nil || *r.Deploy }

// ClusterIn is the Envoy cluster of the service in namespace ns.
func (r RateLimitService) ClusterIn(ns string) (cluster, authority string) {
	host := r.Name + "." + ns + ".svc.cluster.local"
	cluster, authority = r.Cluster, r.Authority
	if cluster == "" {
		cluster = "outbound|8081||" + host
	}
	if authority == "" {
		authority = host
	}
	return cluster, authority
}

// DefaultDefinitions are the values a tree gets without definitions.yaml.
func DefaultDefinitions() *Definitions {
	return &Definitions{
		Namespace: "frontend",
		PartOf:    "frontend",
		ManagedBy: "cutover",
		Environments: map[string]Environment{
			"development": {Domain: "dev.example.com", Branch: "main"},
			"staging":     {Domain: "staging.example.com", Branch: "main"},
			"production":  {Domain: "example.com", Colour: "blue", Colours: []string{"blue", "green"}, Branch: "release/production"},
		},
		ServicePort: 80,
		HealthPath:  "/healthz",
		Gateway: GatewayDefinition{
			Name: "ingressgateway", Namespace: "frontend", Port: 8080,
			Selector: map[string]string{"istio": "ingressgateway"},
		},
		NodeRoles:     NodeRoles{LabelKey: "node-role", Worker: "worker", Gateway: "gateway"},
		ResourceFloor: ResourceFloor{CPU: "10m", Memory: "32Mi"},
		Sidecar:       Sidecar{CPU: "100m", Memory: "128Mi", CPULimit: "500m", MemoryLimit: "256Mi"},
		Shutdown:      Shutdown{TerminationGracePeriodSeconds: 60, PreStopSleepSeconds: 15},
		ArgoCD: ArgoCD{
			RepoURL: "https://git.example.com/frontend/infrastructure.git", Project: "default",
			Namespace: "argocd", Root: "",
		},
		RateLimitService: RateLimitService{
			Name: "ratelimit", Image: "ghcr.io/cutover-dev/cutover:latest", Replicas: 2, Timeout: "20ms",
			Redis: Redis{Address: "redis:6379", Type: "single"},
		},
	}
}
