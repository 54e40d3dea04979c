package controller

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/load"
	"github.com/cutover-dev/cutover/analysis/prometheus"
	"github.com/cutover-dev/cutover/analysis/web"
	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/notify"
)

// Options configure the controller's manager.
type Options struct {
	// MetricsAddr and ProbeAddr serve /metrics and /healthz, /readyz; "0"
	// turns one off.
	MetricsAddr, ProbeAddr string
	// LeaderElection makes replicas take turns: only the leader reconciles
	// and writes status.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election; zero
	// keeps controller-runtime's defaults (15 s, 10 s, 2 s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Namespace limits the controller to one namespace; empty watches all.
	Namespace string
	// Interval is how often running plans are ticked.
	Interval time.Duration
	Log      *slog.Logger
	// SeveralInProcess allows more than one manager in one process, as
	// tests run replicas.
	SeveralInProcess bool
}

// Scheme has the kinds the controller reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// NewManager builds the manager with the Cutover reconciler registered.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "cutover-controller.cutover.dev"
	}
	ctrl.SetLogger(logr.FromSlogHandler(o.Log.Handler()))
	mo := ctrl.Options{
		Scheme: Scheme(),
		// Read these directly: the controller needs a few objects by name,
		// and a cache would need list and watch on all of them.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{
			&corev1.Service{}, &discoveryv1.EndpointSlice{}, &apiextensionsv1.CustomResourceDefinition{},
		}}},
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	}
	if o.SeveralInProcess {
		mo.Controller = config.Controller{SkipNameValidation: &o.SeveralInProcess}
	}
	if o.LeaseDuration > 0 {
		mo.LeaseDuration, mo.RenewDeadline, mo.RetryPeriod = &o.LeaseDuration, &o.RenewDeadline, &o.RetryPeriod
	}
	if o.Namespace != "" {
		mo.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, err
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("cutover-controller"),
		Providers: analysis.ProviderSet{Prometheus: prometheus.Provider{}, Load: load.Provider{}, Web: web.Provider{},
			Datadog: DatadogProvider{Reader: mgr.GetAPIReader(), Namespace: ControllerNamespace()},
			Job:     JobProvider{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()}},
		Log:           o.Log,
		Interval:      o.Interval,
		Notifications: notify.New(o.Log, ctrlmetrics.Registry),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run runs the controller until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	mgr, err := NewManager(cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
