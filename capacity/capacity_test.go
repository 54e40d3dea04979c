package capacity

import (
	"math"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/ratelimit/rls"
	"github.com/cutover-dev/cutover/spec"
)

// Worked cases of §15's formulas, by hand.
//
// Case A: app 500m/1 CPU, sidecar 100m/500m, 4 replicas, HPA at 80 %. A
// pod at 250 rps used 0.75 (app) + 0.15 (sidecar) = 0.9 cores, so 0.0036
// cores per rps. Limits are 1.5 cores; 80 % of them is 1.2 cores, reached
// at 1.2 / 0.0036 = 333.33 rps: the trigger. Pod requests 0.6, total 2.4.
// Without scale-out: 4 × 333.33 = 1333.33 rps. With the app at its floor
// of 100m a pod requests 0.2, so 24 cores hold 120 pods: 40000 rps. The
// sidecar is 0.5 / 1.5 = 33.3 % of the denominator and 0.15 / 0.9 =
// 16.7 % of the usage. The downstream takes 5000, so the global limit is
// min(1333.33, 5000) = 1333.
//
// Case B: the same pod, limit found at 300 rps: the trigger (333.33) is
// above it, so the pod fails before it scales out. A downstream of 1000
// rps sets the global limit to 1000.
func TestWorkedCases(t *testing.T) {
	a := Input{Replicas: 4, AppRequestCPU: 0.5, AppLimitCPU: 1, SidecarRequestCPU: 0.1, SidecarLimitCPU: 0.5, HPATarget: 80,
		MeasuredRPS: 250, MeasuredAppCPU: 0.75, MeasuredSidecarCPU: 0.15, PodLimitRPS: 400, FloorCPU: 0.1, ClusterCPU: 24, DownstreamRPS: 5000}
	p, err := Compute(a)
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("pod requests", p.PodRequestCPU, 0.6)
	near("total requests", p.TotalRequestCPU, 2.4)
	near("cpu per rps", p.CPUPerRPS, 0.0036)
	near("trigger rps", p.TriggerRPS, 1000.0/3)
	near("rps without scale-out", p.RPSWithoutScaleOut, 4000.0/3)
	if p.MostReplicas != 120 {
		t.Errorf("most replicas %d, want 120", p.MostReplicas)
	}
	near("most rps without scale-out", p.MaxRPSWithoutScaleOut, 40000)
	near("sidecar limit share", p.SidecarLimitShare, 1.0/3)
	near("sidecar usage share", p.SidecarUsageShare, 1.0/6)
	near("global limit", p.GlobalRateLimit, 4000.0/3)
	if p.TriggerAboveLimit {
		t.Error("case A's trigger is below its pod limit")
	}
	table := p.Table(a)
	for _, want := range []string{"| HPA trigger rps per pod |", "333.3 rps", "| global rate limit | min(1333.3, downstream 5000) | 1333 rps |", "40000.0 rps"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	b := a
	b.PodLimitRPS, b.DownstreamRPS = 300, 1000
	p, _ = Compute(b)
	if !p.TriggerAboveLimit || !strings.Contains(p.Table(b), "fails before it scales out") {
		t.Error("case B: a trigger above the pod's limit is not reported")
	}
	near("case B global limit", p.GlobalRateLimit, 1000)

	// The files it writes load as they are.
	cfg, err := rls.Parse([]spec.Source{{File: "capacity.yaml", Data: []byte(p.RateLimitConfig("frontend", ":path", "/web*"))}})
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Match("frontend", []rls.Entry{{Key: ":path", Value: "/web/x"}}).Rule; r == nil || r.RequestsPerUnit != 1000 || r.Unit != "second" {
		t.Errorf("rate-limit config: %v", r)
	}
	if got := p.HPAConfig(b); got != "autoscaling: {minReplicas: 4, maxReplicas: 120, targetCPUUtilization: 80}\n" {
		t.Errorf("HPA config %q", got)
	}
}

func TestOutOfRangeInputsAreRefused(t *testing.T) {
	good := Input{Replicas: 4, AppRequestCPU: 0.5, AppLimitCPU: 1, SidecarRequestCPU: 0.1, SidecarLimitCPU: 0.5, HPATarget: 80,
		MeasuredRPS: 250, MeasuredAppCPU: 0.75, FloorCPU: 0.1, ClusterCPU: 24}
	for _, tc := range []struct {
		edit func(*Input)
		want string
	}{
		{func(i *Input) { i.Replicas = 0 }, "replicas: 0 is below 1"},
		{func(i *Input) { i.AppLimitCPU = 0.2 }, "limits.cpu: 0.2 is below requests.cpu 0.5"},
		{func(i *Input) { i.HPATarget = 120 }, "targetCPUUtilization: 120 is not a percentage"},
		{func(i *Input) { i.MeasuredRPS = 0 }, "measured rps: 0 is not above 0"},
		{func(i *Input) { i.FloorCPU = 1 }, "floor cpu: 1 is not above 0 and at most requests.cpu 0.5"},
		{func(i *Input) { i.ClusterCPU = -1 }, "cluster cpu: -1 is not above 0"},
	} {
		in := good
		tc.edit(&in)
		if _, err := Compute(in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %s", err, tc.want)
		}
	}
}
