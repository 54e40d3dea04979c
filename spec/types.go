package spec

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// APIVersion is the group and version every cutover document carries.
const APIVersion = "cutover.dev/v1alpha1"

// KindGateway is the kind of the document that configures `cutover serve`.
const KindGateway = "Gateway"

// Gateway is a `kind: Gateway` document.
type Gateway struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   Metadata    `yaml:"metadata"`
	Spec       GatewaySpec `yaml:"spec"`
}

// Metadata names a document, as in Kubernetes.
type Metadata struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

// GatewaySpec is what the gateway serves.
type GatewaySpec struct {
	Listeners []Listener `yaml:"listeners"`
	Admin     Admin      `yaml:"admin"`
	Limits    Limits     `yaml:"limits"`
	// DrainDelay is how long listeners keep accepting after SIGTERM while
	// /readyz already answers 503, so a load balancer in front can notice.
	// 0 is allowed and means close at once. Default 5s.
	DrainDelay *Duration `yaml:"drainDelay"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout Duration   `yaml:"shutdownTimeout"`
	Backends        []Backend  `yaml:"backends"`
	Routes          []Route    `yaml:"routes"`
	AccessLog       *AccessLog `yaml:"accessLog"`
	// TrustedProxies are the addresses (IPs or CIDRs) whose X-Forwarded-For
	// is believed when finding a client's IP for rate limits, stickiness and
	// logs. Without any, the peer address is the client.
	TrustedProxies []string `yaml:"trustedProxies"`
	// PreserveExternalRequestID keeps the X-Request-Id of a client that is
	// not a trusted proxy (Envoy's preserve_external_request_id); by default
	// the gateway gives it a new one.
	PreserveExternalRequestID bool `yaml:"preserveExternalRequestId"`
	// Chat takes plan commands from a chat service (Slack).
	Chat *Chat `yaml:"chat"`
}

// Listener is one address the gateway accepts traffic on. HTTP/2 is served
// over TLS (ALPN) and, without TLS, only HTTP/1.1.
type Listener struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	TLS     *TLS   `yaml:"tls"`
	// Server is which HTTP/1.1 server a cleartext listener runs: "fast"
	// (fasthttp's, handing to net/http what it does not serve itself:
	// upgrades, streamed request bodies) or "standard" (net/http's). TLS
	// listeners run net/http's. Default fast without TLS.
	Server string `yaml:"server"`
}

// TLS names a certificate and key in PEM files.
type TLS struct {
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// Admin is the admin API listener. It is on loopback unless told otherwise.
type Admin struct {
	Address string `yaml:"address"`
}

// Limits protect the gateway from slow or oversized clients.
type Limits struct {
	MaxHeaderBytes    int      `yaml:"maxHeaderBytes"`
	MaxBodyBytes      int64    `yaml:"maxBodyBytes"`
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"`
	ReadTimeout       Duration `yaml:"readTimeout"`
	WriteTimeout      Duration `yaml:"writeTimeout"`
	IdleTimeout       Duration `yaml:"idleTimeout"`
}

// Backend is one side of a migration: a named, versioned set of endpoints.
type Backend struct {
	Name      string   `yaml:"name"`
	Version   string   `yaml:"version"`
	Endpoints []string `yaml:"endpoints"`
	// HealthCheck is the active check; nil means endpoints are only
	// ejected passively.
	HealthCheck *HealthCheck `yaml:"healthCheck"`
	Passive     *Passive     `yaml:"passive"`
	SlowStart   *SlowStart   `yaml:"slowStart"`
	// FailOpen keeps sending traffic to the backend when all of its
	// endpoints are unhealthy, as an ALB target group does. Off by default:
	// an unhealthy backend's share goes to the route's other backends.
	FailOpen bool `yaml:"failOpen"`
	// Timeouts and pool sizes of the connection to the upstream.
	DialTimeout         Duration `yaml:"dialTimeout"`
	MaxIdleConnsPerHost int      `yaml:"maxIdleConnsPerHost"`
	// Client is how HTTP/1.1 is spoken to cleartext endpoints: "fast"
	// writes and reads on the request's own goroutine, "standard" uses
	// net/http's transport. HTTPS endpoints and upgrades always use the
	// standard one. Default fast.
	Client string `yaml:"client"`
	// CircuitBreaker bounds what the backend is sent at once; Envoy's
	// thresholds and defaults, on even when not written.
	CircuitBreaker *CircuitBreaker `yaml:"circuitBreaker"`
}

// CircuitBreaker is Envoy's: beyond MaxConnections requests wait for a
// connection, beyond MaxPendingRequests of those (or MaxRequests in all)
// the answer is 503 overflow; MaxRetries bounds retries in flight.
type CircuitBreaker struct {
	MaxConnections     int `yaml:"maxConnections"`
	MaxPendingRequests int `yaml:"maxPendingRequests"`
	MaxRequests        int `yaml:"maxRequests"`
	MaxRetries         int `yaml:"maxRetries"`
}

// HealthCheck is an active HTTP check of every endpoint of a backend.
type HealthCheck struct {
	Path               string   `yaml:"path"`
	Interval           Duration `yaml:"interval"`
	Timeout            Duration `yaml:"timeout"`
	HealthyThreshold   int      `yaml:"healthyThreshold"`
	UnhealthyThreshold int      `yaml:"unhealthyThreshold"`
	// ExpectedStatus lists the codes that count as healthy; empty means 200-399.
	ExpectedStatus []int `yaml:"expectedStatus"`
}

// Passive ejects an endpoint after consecutive failed requests, as Envoy's
// outlier detection does, with its three counters. Local-origin failures
// are the ones the gateway sees itself: a connection that could not be
// made, a reset (also in the middle of a response body) and a timeout.
// Unless SplitExternalLocalOriginErrors is set they also count as 5xx and
// as gateway failures, as in Envoy. A client's fault never counts.
type Passive struct {
	// Consecutive5xx: 5xx answers in a row. nil: the default; 0: off.
	Consecutive5xx *int `yaml:"consecutive5xx"`
	// ConsecutiveGatewayFailure: 502, 503 and 504 answers in a row.
	ConsecutiveGatewayFailure *int `yaml:"consecutiveGatewayFailure"`
	// ConsecutiveLocalOriginFailure: connect errors, resets and timeouts in
	// a row; any answer from the upstream ends the run.
	ConsecutiveLocalOriginFailure  *int `yaml:"consecutiveLocalOriginFailure"`
	SplitExternalLocalOriginErrors bool `yaml:"splitExternalLocalOriginErrors"`
	// MaxEjectionPercent bounds the share of a backend's endpoints ejected
	// at once; one endpoint may always be ejected (Envoy's rule).
	MaxEjectionPercent *int     `yaml:"maxEjectionPercent"`
	EjectionTime       Duration `yaml:"ejectionTime"`
	// ConsecutiveFailures is the older single threshold: when written it
	// is the default of the three counters above, and 0 turns all off.
	ConsecutiveFailures *int `yaml:"consecutiveFailures"`
}

// SlowStart ramps a new or recovered endpoint up, as Envoy does:
// weight × max(minWeightPercent/100, (t/window)^(1/aggression)).
type SlowStart struct {
	Window           Duration `yaml:"window"`
	Aggression       float64  `yaml:"aggression"`
	MinWeightPercent float64  `yaml:"minWeightPercent"`
}

// Route sends the requests it matches to its backends by weight. Routes are
// ordered and the first match wins.
type Route struct {
	Name     string         `yaml:"name"`
	Hosts    []string       `yaml:"hosts"`
	Match    []Match        `yaml:"match"`
	Backends []RouteBackend `yaml:"backends"`
	Sticky   *Stickiness    `yaml:"stickiness"`
	// Drain lets a backend whose weight fell to 0 keep the clients already
	// stuck to it. Only cookie stickiness remembers the backend.
	Drain   bool     `yaml:"drain"`
	Timeout Duration `yaml:"timeout"`
	// RateLimits are local limits, checked in order before a backend is chosen.
	RateLimits []RateLimit `yaml:"rateLimits"`
	// Mirror sends a copy of some requests to a shadow backend.
	Mirror *Mirror `yaml:"mirror"`
	// Retries try a failed request again on a different endpoint.
	Retries *Retries `yaml:"retries"`
	// MaxBodyBytes overrides spec.limits.maxBodyBytes for this route.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// Upgrades are the protocols a request may switch to (Envoy's
	// upgrade_configs); others have their Upgrade header removed, so that
	// no tunnel skips routing, limits and logs. Default: websocket.
	Upgrades []string `yaml:"upgrades"`
}

// Retries is a route's retry policy. A retry goes only to a different
// endpoint, only for idempotent methods without a body (or, on
// connect-failure, any request without a body, since nothing was sent), within
// the route's timeout and the backend's retry budget. Connect failures are
// retried even without a policy.
type Retries struct {
	// Attempts is the most retries of one request; default 1.
	Attempts int `yaml:"attempts"`
	// PerTryTimeout bounds each try's wait for response headers.
	PerTryTimeout Duration `yaml:"perTryTimeout"`
	// RetryOn: connect-failure, refused-stream, reset, 502, 503, 504 (504
	// includes a per-try timeout). Default connect-failure, refused-stream, reset.
	RetryOn []string `yaml:"retryOn"`
	// MaxTries bounds a request's tries in all, connections never made
	// included; TryDuration is the time after the first try when no other
	// starts (Caddy's try_duration).
	MaxTries    int      `yaml:"maxTries"`
	TryDuration Duration `yaml:"tryDuration"`
}

// Mirror copies requests to a backend whose answers are compared, never
// returned. Copies go out asynchronously with their own timeout, at most
// MaxInFlight at a time; beyond that they are dropped and counted.
type Mirror struct {
	Backend string `yaml:"backend"`
	// Percent of the route's requests (of the allowed methods) to copy,
	// chosen deterministically; default 100.
	Percent *int `yaml:"percent"`
	// Methods that are copied; default GET and HEAD.
	Methods []string `yaml:"methods"`
	// MaxBodyBytes bounds the request bodies copied and the answers
	// compared; default 64 KiB. Bigger requests are served, not copied.
	MaxBodyBytes int64    `yaml:"maxBodyBytes"`
	Timeout      Duration `yaml:"timeout"`
	MaxInFlight  int      `yaml:"maxInFlight"`
	// ShadowHost adds "-shadow" to the copy's Host, as Envoy does.
	ShadowHost bool     `yaml:"shadowHost"`
	Compare    *Compare `yaml:"compare"`
}

// Compare says what of the primary's and the shadow's answers to compare.
type Compare struct {
	Status  bool `yaml:"status"`
	Headers bool `yaml:"headers"`
	Body    bool `yaml:"body"`
	// IgnoreHeaders are left out of the header comparison (Date, Set-Cookie,
	// X-Request-Id and hop-by-hop headers always are).
	IgnoreHeaders []string `yaml:"ignoreHeaders"`
	// Keep is how many differing pairs are kept for the diffs API; default 50.
	Keep int `yaml:"keep"`
}

// RateLimit is one limiter of a route: local, keyed by a descriptor, or
// Global, asking a rate-limit service. Local limits run first, as Envoy's
// docs suggest, so that a burst does not all go to the service.
type RateLimit struct {
	Name   string           `yaml:"name"`
	Key    RateLimitKey     `yaml:"key"`
	Global *GlobalRateLimit `yaml:"global"`
	// Exactly one algorithm is set.
	TokenBucket *TokenBucket `yaml:"tokenBucket"`
	LeakyBucket *LeakyBucket `yaml:"leakyBucket"`
	// Status answers refused requests; default 429.
	Status int `yaml:"status"`
	// DryRun counts what would be limited without limiting, as nginx's
	// limit_req_dry_run.
	DryRun bool `yaml:"dryRun"`
	// MaxKeys bounds the keys remembered; the least recently used go first.
	MaxKeys int `yaml:"maxKeys"`
}

// GlobalRateLimit asks an Envoy RateLimitService (such as `cutover
// ratelimit serve`) with descriptors built by Envoy's rate-limit actions.
type GlobalRateLimit struct {
	// Service is the service's gRPC address, host:port.
	Service     string                `yaml:"service"`
	Domain      string                `yaml:"domain"`
	Descriptors []RateLimitDescriptor `yaml:"descriptors"`
	// FailureModeDeny answers 503 when the service fails or is slower than
	// Timeout; by default the request passes.
	FailureModeDeny bool     `yaml:"failureModeDeny"`
	Timeout         Duration `yaml:"timeout"`
}

// RateLimitDescriptor is one descriptor: its entries, in order, from
// actions. When an action cannot produce its entry (a missing header, say)
// the descriptor is not sent, as in Envoy.
type RateLimitDescriptor struct {
	Actions []RateLimitAction `yaml:"actions"`
}

// RateLimitAction is one of Envoy's route rate-limit actions; exactly one
// field is set.
type RateLimitAction struct {
	RequestHeaders   *RequestHeadersAction   `yaml:"requestHeaders"`
	RemoteAddress    *struct{}               `yaml:"remoteAddress"`
	GenericKey       *GenericKeyAction       `yaml:"genericKey"`
	HeaderValueMatch *HeaderValueMatchAction `yaml:"headerValueMatch"`
	QueryParameters  *QueryParametersAction  `yaml:"queryParameters"`
}

// RequestHeadersAction adds (DescriptorKey, the header's value); ":path",
// ":authority" and ":method" name the pseudo-headers.
type RequestHeadersAction struct {
	HeaderName    string `yaml:"headerName"`
	DescriptorKey string `yaml:"descriptorKey"`
}

// GenericKeyAction adds (DescriptorKey or "generic_key", DescriptorValue).
type GenericKeyAction struct {
	DescriptorKey   string `yaml:"descriptorKey"`
	DescriptorValue string `yaml:"descriptorValue"`
}

// HeaderValueMatchAction adds (DescriptorKey or "header_match",
// DescriptorValue) when the headers match (or, with ExpectMatch false, when
// they do not).
type HeaderValueMatchAction struct {
	DescriptorKey   string     `yaml:"descriptorKey"`
	DescriptorValue string     `yaml:"descriptorValue"`
	ExpectMatch     *bool      `yaml:"expectMatch"`
	Headers         []KeyMatch `yaml:"headers"`
}

// QueryParametersAction adds (DescriptorKey, the parameter's value).
type QueryParametersAction struct {
	QueryParameterName string `yaml:"queryParameterName"`
	DescriptorKey      string `yaml:"descriptorKey"`
}

// RateLimitKey says what a limiter counts by; exactly one is set. A request
// without the header, or whose path does not match, is not limited.
type RateLimitKey struct {
	Route    bool   `yaml:"route"`
	ClientIP bool   `yaml:"clientIP"`
	Header   string `yaml:"header"`
	// PathRegex keys by its first capture group, e.g. '^/users/([^/]+)'.
	PathRegex string `yaml:"pathRegex"`
}

// TokenBucket is Envoy's local rate limit.
type TokenBucket struct {
	MaxTokens     int      `yaml:"maxTokens"`
	TokensPerFill int      `yaml:"tokensPerFill"`
	FillInterval  Duration `yaml:"fillInterval"`
}

// LeakyBucket is nginx's limit_req: Rate as "10r/s" or "600r/m"; Burst;
// Delay, or NoDelay for Delay = Burst.
type LeakyBucket struct {
	Rate    string `yaml:"rate"`
	Burst   int    `yaml:"burst"`
	Delay   int    `yaml:"delay"`
	NoDelay bool   `yaml:"nodelay"`
}

// Match is one way a request can match a route. The fields of one Match are
// AND'd; the Matches of a route are OR'd.
type Match struct {
	Path        *StringMatch `yaml:"path" json:"path,omitempty"`
	Method      string       `yaml:"method" json:"method,omitempty"`
	Headers     []KeyMatch   `yaml:"headers" json:"headers,omitempty"`
	QueryParams []KeyMatch   `yaml:"queryParams" json:"queryParams,omitempty"`
}

// StringMatch matches a string in exactly one way.
//
// +kubebuilder:object:generate=true
// +kubebuilder:validation:MaxProperties=1
type StringMatch struct {
	Exact  *string `yaml:"exact" json:"exact,omitempty"`
	Prefix *string `yaml:"prefix" json:"prefix,omitempty"`
	// Regex is RE2 syntax and must match the whole string.
	Regex *string `yaml:"regex" json:"regex,omitempty"`
}

// KeyMatch matches a header or query parameter by name. With only Present
// set, the key must be there with any value.
type KeyMatch struct {
	Name        string `yaml:"name" json:"name"`
	StringMatch `yaml:",inline"`
	Present     bool `yaml:"present" json:"present,omitempty"`
}

// RouteBackend is a backend's share of a route, in percent.
type RouteBackend struct {
	Name   string `yaml:"name"`
	Weight *int   `yaml:"weight"`
}

// Stickiness keeps a client on the same backend across requests. Exactly one
// source of the client's identity is set.
type Stickiness struct {
	Cookie   *CookieSticky `yaml:"cookie"`
	Header   string        `yaml:"header"`
	ClientIP bool          `yaml:"clientIP"`
}

// CookieSticky is a cookie the gateway sets to remember a client.
type CookieSticky struct {
	Name   string   `yaml:"name"`
	MaxAge Duration `yaml:"maxAge"`
}

// Duration is a time.Duration written as "1.5s" or "300ms".
type Duration time.Duration

// UnmarshalYAML reads Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. 500ms, 5s, 1m)", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds is a duration written the way Argo Rollouts writes a Prometheus
// timeout, in whole seconds (30), or as a duration (30s).
type Seconds Duration

// UnmarshalYAML reads a whole number of seconds or a duration.
func (s *Seconds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int64
		if err := n.Decode(&i); err != nil || i <= 0 {
			return fmt.Errorf("invalid timeout %q (want whole seconds above 0, or e.g. 5s)", n.Value)
		}
		*s = Seconds(time.Duration(i) * time.Second)
		return nil
	}
	var d Duration
	if err := d.UnmarshalYAML(n); err != nil {
		return err
	}
	*s = Seconds(d)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (s Seconds) MarshalYAML() (any, error) { return time.Duration(s).String(), nil }

// D returns the time.Duration.
func (s Seconds) D() time.Duration { return time.Duration(s) }

// AccessLog writes one JSON object per request to its sinks. Writing never
// blocks a request: lines that do not fit a sink's buffer are dropped and
// counted.
type AccessLog struct {
	Sinks []LogSink `yaml:"sinks"`
	// BufferLines is each sink's buffer; default 16384.
	BufferLines int `yaml:"bufferLines"`
	// Headers are request headers logged by name.
	Headers []string `yaml:"headers"`
	// Cookies are request cookies logged by name, whole or hashed.
	Cookies []LogCookie `yaml:"cookies"`
}

// LogSink is one destination; exactly one field is set.
type LogSink struct {
	Stdout bool        `yaml:"stdout"`
	File   *FileSink   `yaml:"file"`
	Syslog *SyslogSink `yaml:"syslog"`
}

// FileSink writes to a path pattern of the date in TimeZone: {YYYY}, {MM},
// {DD}, {HH}, e.g. "logs/{YYYY}-{MM}{DD}/access.log". Default zone UTC.
type FileSink struct {
	Path     string `yaml:"path"`
	TimeZone string `yaml:"timeZone"`
}

// SyslogSink sends RFC 5424 messages to a unix datagram socket.
type SyslogSink struct {
	Socket string `yaml:"socket"`
	Tag    string `yaml:"tag"`
	// Facility is a number (16 is local0, the default).
	Facility *int `yaml:"facility"`
}

// LogCookie logs a cookie's value, or its SHA-256 when Hash is set.
type LogCookie struct {
	Name string `yaml:"name"`
	Hash bool   `yaml:"hash"`
}
