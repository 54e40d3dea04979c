package spec_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// cutoverStrategy is a strategy as a Cutover resource holds it: JSON, as
// the API server stores it, with Argo's integer pause.
const cutoverStrategy = `{"canary": {"steps": [
	{"setWeight": 30},
	{"pause": {"duration": 600}},
	{"pause": {"duration": "90s"}},
	{"analysis": {"templates": [{"templateName": "rate"}], "args": [{"name": "floor", "value": "0.99"}]}},
	{"setWeight": 100}
]}}`

const rateTemplate = `{"args": [{"name": "floor"}], "metrics": [{
	"name": "success", "interval": "10s", "count": 3,
	"successCondition": "result >= {{args.floor}}",
	"provider": {"prometheus": {"address": "http://127.0.0.1:9090", "query": "up"}}
}]}`

// planOf builds what the controller checks: a Rollout on route "web"
// between backends stable and canary, from the strategy's JSON.
func planOf(t *testing.T, strategy, canaryBackend string) (*spec.Rollout, spec.Route) {
	t.Helper()
	r := &spec.Rollout{APIVersion: spec.APIVersion, Kind: spec.KindRollout, Metadata: spec.Metadata{Name: "web"}}
	r.Spec.Route = "web"
	if err := json.Unmarshal([]byte(strategy), &r.Spec.Strategy); err != nil {
		t.Fatal(err)
	}
	r.Spec.Strategy.Canary.StableService, r.Spec.Strategy.Canary.CanaryService = "stable", canaryBackend
	hundred, zero := 100, 0
	return r, spec.Route{Name: "web", Backends: []spec.RouteBackend{{Name: "stable", Weight: &hundred}, {Name: "canary", Weight: &zero}}}
}

func TestCheckPlanTakesTheBackendsGiven(t *testing.T) {
	tmpl, errs := spec.DecodeTemplate("rate.json", "rate", []byte(rateTemplate), spec.ParseOptions{Kubernetes: true})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r, route := planOf(t, cutoverStrategy, "canary")
	if errs := spec.CheckPlan(r, route, []*spec.DecodedTemplate{tmpl}); len(errs) > 0 {
		t.Fatalf("a valid plan: %v", errs)
	}
	steps := r.Spec.Strategy.Canary.Steps
	if d := steps[1].Pause.Duration.D(); d != 10*time.Minute {
		t.Errorf("pause 600 read as %s", d)
	}
	if d := steps[2].Pause.Duration.D(); d != 90*time.Second {
		t.Errorf(`pause "90s" read as %s`, d)
	}

	r, route = planOf(t, cutoverStrategy, "green")
	errs = spec.CheckPlan(r, route, []*spec.DecodedTemplate{tmpl})
	if len(errs) != 1 || errs[0].File != "" || errs[0].Path != "spec.strategy.canary.canaryService" || !strings.Contains(errs[0].Msg, `"green" is not a backend of route "web"`) {
		t.Errorf("canary not among the backends: %v", errs)
	}
}

func TestCheckPlanPlacesEachProblem(t *testing.T) {
	bad := strings.Replace(rateTemplate, `"count": 3`, `"count": 3, "failureLimit": -2`, 1)
	tmpl, errs := spec.DecodeTemplate("spec.analysisTemplates[0]", "rate", []byte(bad), spec.ParseOptions{Kubernetes: true})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	strategy := strings.Replace(cutoverStrategy, `"duration": "90s"`, `"duration": "5x"`, 1)
	r, route := planOf(t, strategy, "canary")
	got := map[string]string{}
	for _, e := range spec.CheckPlan(r, route, []*spec.DecodedTemplate{tmpl}) {
		got[e.File+"|"+e.Path] = e.Msg
	}
	for _, want := range []string{"|spec.strategy.canary.steps[2].pause.duration", "spec.analysisTemplates[0]|spec.metrics[0].failureLimit"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no problem at %s; got %v", want, got)
		}
	}
}

func TestDecodeTemplateRefusesWhatATemplateDocumentRefuses(t *testing.T) {
	unknown := strings.Replace(rateTemplate, `"count": 3`, `"count": 3, "cadence": 5`, 1)
	_, errs := spec.DecodeTemplate("t", "rate", []byte(unknown), spec.ParseOptions{Kubernetes: true})
	if len(errs) != 1 || errs[0].Path != "spec.metrics[0].cadence" {
		t.Errorf("unknown field: %v", errs)
	}
	if _, errs := spec.DecodeTemplate("t", "rate", []byte(`{"metrics": [`), spec.ParseOptions{}); len(errs) != 1 || errs[0].File != "t" {
		t.Errorf("broken JSON: %v", errs)
	}
}

func TestPauseDurationJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"duration":600}`:      `{"duration":"10m"}`,
		`{"duration":"2h"}`:     `{"duration":"2h"}`,
		`{"duration":90}`:       `{"duration":"90s"}`,
		`{"duration":"1500ms"}`: `{"duration":"1.5s"}`,
		`{}`:                    `{}`,
	} {
		var p spec.Pause
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := json.Marshal(p)
		if err != nil || string(out) != want {
			t.Errorf("%s came back as %s (%v), want %s", in, out, err, want)
		}
		var again spec.Pause
		if err := json.Unmarshal(out, &again); err != nil || (p.Duration == nil) != (again.Duration == nil) || (p.Duration != nil && *p.Duration != *again.Duration) {
			t.Errorf("%s does not read back as %s", out, in)
		}
	}
}
