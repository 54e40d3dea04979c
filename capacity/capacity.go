package capacity

import (
	"fmt"
	"math"
	"strings"
)

// Input is what the plan is made from: the service's resources (from its
// generator config), the sidecar's (from the definitions), and what a load
// test measured. CPU is in cores.
type Input struct {
	Replicas int
	// AppRequestCPU and AppLimitCPU are the app's containers together.
	AppRequestCPU, AppLimitCPU         float64
	SidecarRequestCPU, SidecarLimitCPU float64
	// HPATarget is the HPA's averageUtilization, a percentage.
	HPATarget float64
	// MeasuredRPS is a rate one pod was driven at, with the CPU its app
	// and its sidecar used then; usage grows in proportion to the rate
	// (§15.2: a BFF's requests do not linger).
	MeasuredRPS, MeasuredAppCPU, MeasuredSidecarCPU float64
	// PodLimitRPS is the pod's performance limit, the highest rate a load
	// test found that holds the SLO (0: not measured).
	PodLimitRPS float64
	// FloorCPU is the least a pod's app may request; ClusterCPU the most
	// requests.cpu the cluster gives the service.
	FloorCPU, ClusterCPU float64
	// DownstreamRPS is what the services behind this one take at most (0:
	// no bound).
	DownstreamRPS float64
}

// Check refuses inputs out of range, naming the field.
func (in Input) Check() error {
	var bad []string
	need := func(ok bool, field, format string, args ...any) {
		if !ok {
			bad = append(bad, field+": "+fmt.Sprintf(format, args...))
		}
	}
	need(in.Replicas >= 1, "replicas", "%d is below 1", in.Replicas)
	need(in.AppRequestCPU > 0, "requests.cpu", "%v is not above 0", in.AppRequestCPU)
	need(in.AppLimitCPU >= in.AppRequestCPU, "limits.cpu", "%v is below requests.cpu %v", in.AppLimitCPU, in.AppRequestCPU)
	need(in.SidecarRequestCPU >= 0 && in.SidecarLimitCPU >= in.SidecarRequestCPU, "sidecar", "limit %v below request %v", in.SidecarLimitCPU, in.SidecarRequestCPU)
	need(in.HPATarget > 0 && in.HPATarget <= 100, "targetCPUUtilization", "%v is not a percentage between 1 and 100", in.HPATarget)
	need(in.MeasuredRPS > 0, "measured rps", "%v is not above 0", in.MeasuredRPS)
	need(in.MeasuredAppCPU > 0, "measured app cpu", "%v is not above 0", in.MeasuredAppCPU)
	need(in.MeasuredSidecarCPU >= 0, "measured sidecar cpu", "%v is below 0", in.MeasuredSidecarCPU)
	need(in.PodLimitRPS >= 0, "pod limit rps", "%v is below 0", in.PodLimitRPS)
	need(in.FloorCPU > 0 && in.FloorCPU <= in.AppRequestCPU, "floor cpu", "%v is not above 0 and at most requests.cpu %v", in.FloorCPU, in.AppRequestCPU)
	need(in.ClusterCPU > 0, "cluster cpu", "%v is not above 0", in.ClusterCPU)
	need(in.DownstreamRPS >= 0, "downstream rps", "%v is below 0", in.DownstreamRPS)
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// Plan is §15's quantities.
type Plan struct {
	PodRequestCPU, TotalRequestCPU float64
	PodLimitCPU, CPUPerRPS         float64
	// TriggerRPS is the rate per pod at which the HPA scales out: where the
	// pod's usage reaches the target share of its containers' limits
	// (§15.1: utilisation counts every container's limits).
	TriggerRPS float64
	// TriggerAboveLimit: the pod fails before its HPA reacts.
	TriggerAboveLimit bool
	// RPSWithoutScaleOut is what the replicas serve before scaling out.
	RPSWithoutScaleOut float64
	// MostReplicas fit in the cluster with the app requesting its floor;
	// MaxRPSWithoutScaleOut is what they serve at the trigger rate.
	SmallestPodCPU        float64
	MostReplicas          int
	MaxRPSWithoutScaleOut float64
	// SidecarLimitShare is the sidecar's part of the denominator of the
	// utilisation, SidecarUsageShare its part of the usage.
	SidecarLimitShare, SidecarUsageShare float64
	// GlobalRateLimit is the smaller of RPSWithoutScaleOut and the
	// downstream's limit.
	GlobalRateLimit float64
}

// Compute works the formulas.
func Compute(in Input) (Plan, error) {
	if err := in.Check(); err != nil {
		return Plan{}, err
	}
	var p Plan
	p.PodRequestCPU = in.AppRequestCPU + in.SidecarRequestCPU
	p.TotalRequestCPU = float64(in.Replicas) * p.PodRequestCPU
	p.PodLimitCPU = in.AppLimitCPU + in.SidecarLimitCPU
	used := in.MeasuredAppCPU + in.MeasuredSidecarCPU
	p.CPUPerRPS = used / in.MeasuredRPS
	p.TriggerRPS = in.HPATarget / 100 * p.PodLimitCPU / p.CPUPerRPS
	if in.PodLimitRPS > 0 && p.TriggerRPS > in.PodLimitRPS {
		p.TriggerAboveLimit = true
	}
	p.RPSWithoutScaleOut = float64(in.Replicas) * p.TriggerRPS
	p.SmallestPodCPU = in.FloorCPU + in.SidecarRequestCPU
	p.MostReplicas = int(math.Floor(in.ClusterCPU/p.SmallestPodCPU + 1e-9))
	p.MaxRPSWithoutScaleOut = float64(p.MostReplicas) * p.TriggerRPS
	p.SidecarLimitShare = in.SidecarLimitCPU / p.PodLimitCPU
	p.SidecarUsageShare = in.MeasuredSidecarCPU / used
	p.GlobalRateLimit = p.RPSWithoutScaleOut
	if in.DownstreamRPS > 0 && in.DownstreamRPS < p.GlobalRateLimit {
		p.GlobalRateLimit = in.DownstreamRPS
	}
	return p, nil
}

// Table shows each quantity with its formula and its numbers.
func (p Plan) Table(in Input) string {
	var b strings.Builder
	row := func(name, formula, value string) { fmt.Fprintf(&b, "| %s | %s | %s |\n", name, formula, value) }
	b.WriteString("| quantity | formula (handbook §15) | value |\n| --- | --- | ---: |\n")
	row("pod requests.cpu", fmt.Sprintf("app %.3g + sidecar %.3g", in.AppRequestCPU, in.SidecarRequestCPU), fmt.Sprintf("%.3f cores", p.PodRequestCPU))
	row("total requests.cpu", fmt.Sprintf("replicas %d × %.3g", in.Replicas, p.PodRequestCPU), fmt.Sprintf("%.3f cores", p.TotalRequestCPU))
	row("CPU per rps", fmt.Sprintf("(app %.3g + sidecar %.3g) / %.4g rps", in.MeasuredAppCPU, in.MeasuredSidecarCPU, in.MeasuredRPS), fmt.Sprintf("%.6f cores", p.CPUPerRPS))
	row("HPA trigger rps per pod", fmt.Sprintf("%.3g %% × limits (app %.3g + sidecar %.3g) / %.6f", in.HPATarget, in.AppLimitCPU, in.SidecarLimitCPU, p.CPUPerRPS), fmt.Sprintf("%.1f rps", p.TriggerRPS))
	row("rps without scale-out", fmt.Sprintf("replicas %d × %.1f", in.Replicas, p.TriggerRPS), fmt.Sprintf("%.1f rps", p.RPSWithoutScaleOut))
	row("most replicas in the cluster", fmt.Sprintf("cluster %.3g / (floor %.3g + sidecar %.3g)", in.ClusterCPU, in.FloorCPU, in.SidecarRequestCPU), fmt.Sprintf("%d", p.MostReplicas))
	row("most rps without scale-out", fmt.Sprintf("%d × %.1f", p.MostReplicas, p.TriggerRPS), fmt.Sprintf("%.1f rps", p.MaxRPSWithoutScaleOut))
	row("sidecar's part of utilisation", fmt.Sprintf("limits %.3g / %.3g; usage %.3g / %.3g", in.SidecarLimitCPU, p.PodLimitCPU, in.MeasuredSidecarCPU, in.MeasuredAppCPU+in.MeasuredSidecarCPU),
		fmt.Sprintf("%.1f %% of the denominator, %.1f %% of the usage", 100*p.SidecarLimitShare, 100*p.SidecarUsageShare))
	down := "no downstream limit"
	if in.DownstreamRPS > 0 {
		down = fmt.Sprintf("min(%.1f, downstream %.4g)", p.RPSWithoutScaleOut, in.DownstreamRPS)
	}
	row("global rate limit", down, fmt.Sprintf("%.0f rps", math.Floor(p.GlobalRateLimit)))
	if p.TriggerAboveLimit {
		fmt.Fprintf(&b, "\nWarning: the pod's performance limit (%.0f rps) is below its HPA trigger (%.1f rps): it fails before it scales out; lower targetCPUUtilization or the limits.\n", in.PodLimitRPS, p.TriggerRPS)
	}
	return b.String()
}

// HPAConfig is the autoscaling block for the generator's config/<service>.yaml.
func (p Plan) HPAConfig(in Input) string {
	lo, hi, target := p.hpaValues(in)
	return fmt.Sprintf("autoscaling: {minReplicas: %d, maxReplicas: %d, targetCPUUtilization: %d}\n", lo, hi, target)
}

// RateLimitConfig is an envoyproxy/ratelimit file limiting the service's
// requests, keyed on the descriptor the generator's global limit sends.
func (p Plan) RateLimitConfig(domain, key, value string) string {
	return fmt.Sprintf("domain: %s\ndescriptors:\n  - key: %q\n    value: %q\n    rate_limit: {unit: second, requests_per_unit: %d}\n", domain, key, value, int64(math.Floor(p.GlobalRateLimit)))
}

// The HPA values as an autoscaling mapping, for a config file.
func (p Plan) hpaValues(in Input) (minReplicas, maxReplicas, target int) {
	return in.Replicas, max(p.MostReplicas, in.Replicas), int(math.Round(in.HPATarget))
}
