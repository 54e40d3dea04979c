package manifest

import (
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover-dev/cutover/manifest/argo"
	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/manifest/templates"
)

// The app-of-apps of handbook §6.1-6.2: per environment, one parent
// Application whose source is the directory of child Applications, and one
// child per service pointing at overlays/<env>/<service>.

const argoFinalizer = "resources-finalizer.argocd.argoproj.io"

func parentApplication(defs *templates.Definitions, env string) *argo.Application {
	return application(defs, env, defs.PartOf+"-"+env, path.Join(defs.ArgoCD.Root, "argocd", env, "apps"), defs.ArgoCD.Namespace, "")
}

func childApplication(defs *templates.Definitions, env string, svc *config.ServiceConfig) *argo.Application {
	ns := defs.Namespace
	if e := defs.Environments[env]; e.Namespace != "" {
		ns = e.Namespace
	}
	wave := ""
	if svc.Template == templates.IngressGatewayName {
		wave = "-100" // the gateway is up before the routes that attach to it
	}
	return application(defs, env, svc.Name+"-"+env, path.Join(defs.ArgoCD.Root, "overlays", env, svc.Name), ns, wave)
}

func application(defs *templates.Definitions, env, name, source, namespace, wave string) *argo.Application {
	e := defs.Environments[env]
	server := e.Server
	if server == "" {
		server = "https://kubernetes.default.svc"
	}
	ann := map[string]string{}
	if wave != "" {
		ann[templates.SyncWaveAnnotation] = wave
	}
	if ch := defs.ArgoCD.SlackChannel; ch != "" {
		ann["notifications.argoproj.io/subscribe.on-sync-failed.slack"] = ch
		ann["notifications.argoproj.io/subscribe.on-health-degraded.slack"] = ch
		ann["notifications.argoproj.io/subscribe.on-deployed.slack"] = ch
	}
	return &argo.Application{
		TypeMeta: metav1.TypeMeta{APIVersion: argo.GroupVersion, Kind: "Application"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: defs.ArgoCD.Namespace, Finalizers: []string{argoFinalizer}, Annotations: ann,
			Labels: map[string]string{
				"app.kubernetes.io/part-of":    defs.PartOf,
				"app.kubernetes.io/managed-by": defs.ManagedBy,
			},
		},
		Spec: argo.ApplicationSpec{
			Project:     defs.ArgoCD.Project,
			Source:      &argo.ApplicationSource{RepoURL: defs.ArgoCD.RepoURL, Path: source, TargetRevision: e.Branch},
			Destination: argo.ApplicationDestination{Server: server, Namespace: namespace},
			SyncPolicy: &argo.SyncPolicy{
				Automated:   &argo.SyncPolicyAutomated{Prune: true, SelfHeal: true},
				SyncOptions: []string{"ServerSideApply=true"},
			},
		},
	}
}
