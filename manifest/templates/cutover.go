package templates

import (
	"net"
	"strconv"

	"k8s.io/utils/ptr"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/spec"
)

// LegacyHost is the legacy side of a migration that Istio carries out, as
// host and port; ok is false for any other service.
func LegacyHost(in *Input) (host string, port int, ok bool) {
	m := in.Config.Migration
	if m == nil || m.Via != config.MigrateViaIstio || len(m.Legacy) != 1 {
		return "", 0, false
	}
	host, p, err := net.SplitHostPort(m.Legacy[0])
	if err != nil {
		return "", 0, false
	}
	port, err = strconv.Atoi(p)
	return host, port, err == nil
}

// Cutover is the Cutover resource that moves a migrating service's
// VirtualService route from the legacy host to the service, step by step,
// run by `cutover controller`; nil for any other service.
func Cutover(in *Input) *v1alpha1.Cutover {
	host, port, ok := LegacyHost(in)
	if !ok {
		return nil
	}
	co := &v1alpha1.Cutover{
		TypeMeta:   typeMeta(v1alpha1.GroupVersion.String(), "Cutover"),
		ObjectMeta: in.Meta(in.Name()),
		Spec: v1alpha1.CutoverSpec{
			Stable: v1alpha1.Side{ExternalHost: host, Port: int32(port)},
			Canary: v1alpha1.Side{Service: ServiceNames(in)[0]},
			TrafficRouting: v1alpha1.TrafficRouting{Istio: &v1alpha1.IstioRouting{
				VirtualService: v1alpha1.IstioVirtualService{Name: in.Name(), Routes: []string{PrimaryRoute(in)}},
			}},
		},
	}
	canary := &spec.CanaryStrategy{}
	for _, s := range in.Config.Migration.Steps {
		switch {
		case s.SetWeight != nil:
			canary.Steps = append(canary.Steps, spec.Step{SetWeight: ptr.To(*s.SetWeight)})
		case s.Pause != nil:
			p := &spec.Pause{}
			if s.Pause.Duration != nil {
				p.Duration = ptr.To(spec.PauseDuration(roundUpToSecond(s.Pause.Duration.D())))
			}
			canary.Steps = append(canary.Steps, spec.Step{Pause: p})
		}
	}
	canary.Steps = append(canary.Steps, spec.Step{SetWeight: ptr.To(100)})
	co.Spec.Strategy.Canary = canary
	return co
}
