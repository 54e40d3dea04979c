package analysis

import (
	"fmt"

	"github.com/cutover-dev/cutover/spec"
)

// ProviderSet picks a metric's provider by the field it sets.
type ProviderSet struct {
	Gateway    Provider
	Prometheus Provider
	Load       Provider
	Web        Provider
	Datadog    Provider
	Job        Provider // on Kubernetes only
}

// For implements Providers.
func (s ProviderSet) For(m *spec.Metric) (Provider, error) {
	switch {
	case m.Provider.Gateway != nil && s.Gateway != nil:
		return s.Gateway, nil
	case m.Provider.Prometheus != nil && s.Prometheus != nil:
		return s.Prometheus, nil
	case m.Provider.Load != nil && s.Load != nil:
		return s.Load, nil
	case m.Provider.Web != nil && s.Web != nil:
		return s.Web, nil
	case m.Provider.Datadog != nil && s.Datadog != nil:
		return s.Datadog, nil
	case m.Provider.Job != nil && s.Job != nil:
		return s.Job, nil
	}
	return nil, fmt.Errorf("metric %s: no provider available for it here", m.Name)
}
