package controller

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/datadog"
	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/spec"
)

// DatadogProvider finds a datadog metric's keys as Argo's controller
// does: the Secret its secretRef names (in the controller's namespace, or
// the Cutover's when namespaced); without one, the environment, then a
// Secret named datadog in the controller's namespace.
type DatadogProvider struct {
	Reader client.Reader
	// Namespace is the controller's own (POD_NAMESPACE).
	Namespace string
}

// ControllerNamespace is where cutover-kube runs, from the Downward API.
func ControllerNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "cutover-system"
}

func (p DatadogProvider) Measure(ctx context.Context, m *spec.Metric, started time.Time, sides analysis.Sides) (analysis.Measurement, any, error) {
	ref := m.Provider.Datadog.SecretRef
	ns, name := p.Namespace, "datadog"
	if ref != nil {
		name = ref.Name
		if ref.Namespaced {
			co, _ := ctx.Value(cutoverKey{}).(*v1alpha1.Cutover)
			if co == nil {
				return analysis.Measurement{}, nil, fmt.Errorf("secretRef %s: no Cutover to take the namespace from", name)
			}
			ns = co.Namespace
		}
	} else if os.Getenv("DD_API_KEY") != "" && os.Getenv("DD_APP_KEY") != "" {
		return datadog.Provider{}.Measure(ctx, m, started, sides)
	}
	s := &corev1.Secret{}
	if err := p.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return analysis.Measurement{}, nil, fmt.Errorf("failed to find the credentials for datadog metrics provider: no Secret %s/%s", ns, name)
		}
		return analysis.Measurement{}, nil, err
	}
	return datadog.Provider{Address: string(s.Data["address"]), APIKey: string(s.Data["api-key"]), AppKey: string(s.Data["app-key"])}.Measure(ctx, m, started, sides)
}
