package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/spec"
)

const valid = `apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata:
  name: shop
spec:
  backends:
  - name: legacy
    version: v1
    endpoints: ["http://10.0.0.1:8080", "http://10.0.0.2:8080"]
    healthCheck: {path: /healthz}
  - name: new
    version: v2
    endpoints: ["http://127.0.0.1:9000"]
    slowStart: {window: 30s}
  routes:
  - name: api
    match:
    - path: {prefix: /api}
    backends:
    - name: legacy
      weight: 90
    - name: new
      weight: 10
    stickiness:
      cookie: {name: shop}
  - name: rest
    backends: [{name: legacy}]
`

func TestValidConfigGetsDefaults(t *testing.T) {
	cfg, err := spec.Parse("cutover.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Gateway.Spec
	if s.Listeners[0].Address != ":8080" || s.Admin.Address != "127.0.0.1:9190" {
		t.Errorf("listener defaults: %+v %+v", s.Listeners, s.Admin)
	}
	hc := s.Backends[0].HealthCheck
	if hc.Interval.D().String() != "5s" || hc.HealthyThreshold != 2 || hc.UnhealthyThreshold != 3 {
		t.Errorf("health check defaults: %+v", hc)
	}
	if ss := s.Backends[1].SlowStart; ss.Aggression != 1 || ss.MinWeightPercent != 10 {
		t.Errorf("slow start defaults: %+v", ss)
	}
	if p := s.Backends[0].Passive; *p.Consecutive5xx != 5 || *p.ConsecutiveGatewayFailure != 5 || *p.ConsecutiveLocalOriginFailure != 5 || *p.MaxEjectionPercent != 10 || p.EjectionTime.D().String() != "30s" {
		t.Errorf("passive defaults: %+v", p)
	}
	if w := s.Routes[1].Backends[0].Weight; w == nil || *w != 100 {
		t.Errorf("a lone backend's weight defaults to 100, got %v", w)
	}
	if c := s.Routes[0].Sticky.Cookie; c.MaxAge.D().String() != "24h0m0s" {
		t.Errorf("cookie max age default %v", c.MaxAge.D())
	}
	if s.DrainDelay.D().String() != "5s" || s.Limits.MaxHeaderBytes != 64<<10 {
		t.Errorf("server defaults: drain %v, header limit %d", s.DrainDelay.D(), s.Limits.MaxHeaderBytes)
	}
}

func TestValidationErrorsNameFileLineAndField(t *testing.T) {
	tests := []struct {
		desc, old, new string
		want           []string
	}{
		{"unknown field", "    version: v1\n", "    version: v1\n    wieght: 3\n",
			[]string{"cutover.yaml:9:5: spec.backends[0].wieght: unknown field \"wieght\""}},
		{"wrong type", "      weight: 90", "      weight: ninety",
			[]string{"cutover.yaml:21:15: spec.routes[0].backends[0].weight: cannot unmarshal !!str `ninety` into int"}},
		{"weights do not add up", "      weight: 10", "      weight: 20",
			[]string{"cutover.yaml:19:5: spec.routes[0].backends: weights add up to 110, not 100"}},
		{"unknown backend", "    - name: new\n      weight: 10", "    - name: neu\n      weight: 10",
			[]string{"cutover.yaml:22:7: spec.routes[0].backends[1].name: unknown backend \"neu\""}},
		{"bad regex", "path: {prefix: /api}", "path: {regex: '/api/(['}",
			[]string{"cutover.yaml:18:14: spec.routes[0].match[0].path.regex: error parsing regexp: missing closing ]: `[`"}},
		{"two kinds of path match", "path: {prefix: /api}", "path: {prefix: /api, exact: /api}",
			[]string{"cutover.yaml:18:7: spec.routes[0].match[0].path: set exactly one of exact, prefix or regex"}},
		{"bad duration", "slowStart: {window: 30s}", "slowStart: {window: 30 seconds}",
			[]string{"cutover.yaml:14:25: spec.backends[1].slowStart.window: invalid duration \"30 seconds\" (want e.g. 500ms, 5s, 1m)"}},
		{"bad endpoint", `"http://127.0.0.1:9000"`, `"127.0.0.1:9000"`,
			[]string{"cutover.yaml:13:17: spec.backends[1].endpoints[0]: \"127.0.0.1:9000\" must start with http:// or https://"}},
		{"catch-all not last", "  - name: rest\n    backends: [{name: legacy}]\n", "  - name: rest\n    backends: [{name: legacy}]\n  - name: late\n    match: [{method: GET}]\n    backends: [{name: legacy}]\n",
			[]string{"cutover.yaml:28:5: spec.routes[2]: unreachable: route \"rest\" before it has no match and catches all its requests; a catch-all route must be last"}},
		{"several problems at once", "  name: shop", "  name: Shop!",
			[]string{"cutover.yaml:4:3: metadata.name:"}},
		{"duplicate route", "  - name: rest\n", "  - name: api\n",
			[]string{"cutover.yaml:26:5: spec.routes[1].name: duplicate route name \"api\""}},
		{"wrong apiVersion", "cutover.dev/v1alpha1", "cutover.dev/v2",
			[]string{"cutover.yaml:1:1: apiVersion: \"cutover.dev/v2\" is not supported (want cutover.dev/v1alpha1)"}},
		{"unsupported kind", "kind: Gateway", "kind: Gatway",
			[]string{"cutover.yaml:2:7: kind: unsupported kind \"Gatway\" (want Gateway, Rollout or AnalysisTemplate)"}},
		{"drain needs cookies", "      cookie: {name: shop}\n", "      header: X-User\n    drain: true\n",
			[]string{"cutover.yaml:26:5: spec.routes[0].drain: needs cookie stickiness"}},
		{"rate limit with two algorithms", "      cookie: {name: shop}\n", "      cookie: {name: shop}\n    rateLimits: [{name: a, key: {route: true}, tokenBucket: {maxTokens: 1, tokensPerFill: 1, fillInterval: 1s}, leakyBucket: {rate: 1r/s}}]\n",
			[]string{"spec.routes[0].rateLimits[0]: set exactly one of tokenBucket or leakyBucket"}},
		{"bad nginx rate", "      cookie: {name: shop}\n", "      cookie: {name: shop}\n    rateLimits: [{name: a, key: {clientIP: true}, leakyBucket: {rate: 10r/h, burst: 5, delay: 6}}]\n",
			[]string{`spec.routes[0].rateLimits[0].leakyBucket.rate: "10r/h" is not a rate such as 10r/s or 600r/m`, "leakyBucket.delay: 6 must be between 0 and burst (5)"}},
		{"path key without a capture", "      cookie: {name: shop}\n", "      cookie: {name: shop}\n    rateLimits: [{name: a, key: {pathRegex: '^/u/.*'}, tokenBucket: {maxTokens: 1, tokensPerFill: 1, fillInterval: 1s}}]\n",
			[]string{"rateLimits[0].key.pathRegex: needs a capture group"}},
		{"mirror to an unknown backend", "      cookie: {name: shop}\n", "      cookie: {name: shop}\n    mirror: {backend: shadow, percent: 120}\n",
			[]string{`spec.routes[0].mirror.backend: unknown backend "shadow"`, "spec.routes[0].mirror.percent: 120 must be between 0 and 100"}},
		{"retry on something unknown", "      cookie: {name: shop}\n", "      cookie: {name: shop}\n    retries: {attempts: 20, retryOn: [5xx]}\n",
			[]string{"spec.routes[0].retries.attempts: 20 must be between 1 and 10", `spec.routes[0].retries.retryOn[0]: "5xx" is not one of connect-failure, refused-stream, reset, 502, 503, 504`}},
		{"access log sink", "spec:\n", "spec:\n  accessLog: {sinks: [{stdout: true, file: {path: x}}, {file: {path: y, timeZone: Mars/Olympus}}]}\n",
			[]string{"spec.accessLog.sinks[0]: set exactly one of stdout, file or syslog", "spec.accessLog.sinks[1].file.timeZone: unknown time zone Mars/Olympus"}},
		{"trusted proxy", "spec:\n", "spec:\n  trustedProxies: [10.0.0.0/33]\n",
			[]string{`spec.trustedProxies[0]: "10.0.0.0/33" is not an IP address or CIDR`}},
		{"chat without a secret or grants", "spec:\n", "spec:\n  chat: {slack: {path: /api/slack}}\n",
			[]string{`cutover.yaml:6:18: spec.chat.slack.path: "/api/slack" is an admin API path`, "spec.chat.slack.signingSecretFile: required", "spec.chat.slack.allow: required"}},
		{"chat grant", "spec:\n", "spec:\n  chat: {slack: {signingSecretFile: /dev/null, allow: [{commands: [deploy]}]}}\n",
			[]string{"spec.chat.slack.allow[0]: name users or channels", `spec.chat.slack.allow[0].commands[0]: "deploy" is not a command (status, promote, abort, pause, resume, retry)`}},
		{"syntax error", "    - name: legacy\n      weight: 90", "    - name: legacy\n     weight: 90",
			[]string{"cutover.yaml:21:1: did not find expected key"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			src := strings.Replace(valid, tc.old, tc.new, 1)
			if src == valid {
				t.Fatal("the test did not change the config")
			}
			_, err := spec.Parse("cutover.yaml", []byte(src))
			var list spec.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse: %v, want an ErrorList", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("errors\n%v\ndo not contain\n%s", err, want)
				}
			}
		})
	}
}

func TestSeveralDocuments(t *testing.T) {
	src := "# leading comment\n---\n" + valid + "---\n"
	if _, err := spec.Parse("c.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	_, err := spec.Parse("c.yaml", []byte(valid+"---\n"+valid))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:30:7: kind: only one Gateway document is allowed") {
		t.Fatalf("two gateways: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("kind: Gateway\nspec: {routes: [{}]}"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("kind: Gateway\nspec:\n  backends: &a [{name: x}]\n  routes: *a\n"))
	f.Add([]byte("kind: Gateway\napiVersion: cutover.dev/v1alpha1\nmetadata: {name: a}\nspec: {routes: [{name: r, match: [{headers: [{name: x, regex: '('}]}], backends: [{name: b, weight: 100}]}], backends: [{name: b, endpoints: ['http://a:1']}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := spec.Parse("fuzz.yaml", data)
		if err == nil {
			if cfg.Gateway == nil || len(cfg.Gateway.Spec.Routes) == 0 {
				t.Fatal("a config without routes was accepted")
			}
			return
		}
		var list spec.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
					t.Fatalf("error without the file name: %v", e)
				}
			}
		}
	})
}
