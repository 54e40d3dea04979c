package spec

import "reflect"

// Fields of Argo Rollouts' documents that size or label pods. The gateway
// moves traffic between backends that already run, so a plan written for
// Argo carries them without effect: each is accepted with a warning that
// names it and says why (an error with validate --strict).
var ignoredFields = map[reflect.Type]map[string]string{
	reflect.TypeFor[RolloutSpec](): {
		"replicas":                "the gateway does not run the pods: backends are served where they already run",
		"selector":                "the gateway does not run the pods: backends are named in the Gateway",
		"template":                "the gateway does not run the pods: backends are served where they already run",
		"workloadRef":             "the gateway does not run the pods: backends are named in the Gateway",
		"minReadySeconds":         "pod readiness is the backends' own; the gateway's health checks decide where traffic goes",
		"revisionHistoryLimit":    "the gateway keeps no ReplicaSets",
		"progressDeadlineSeconds": "it measures ReplicaSet progress, which the gateway does not make",
		"progressDeadlineAbort":   "it measures ReplicaSet progress, which the gateway does not make",
		"restartAt":               "the gateway does not restart pods",
		"rollbackWindow":          "it picks ReplicaSet revisions; use cutover rollback to go back to a step",
		"analysis":                "it limits how many AnalysisRun objects Argo keeps; the gateway keeps its runs in the plan's state",
		"paused":                  "use cutover pause and resume, which the audit log records",
	},
	reflect.TypeFor[CanaryStrategy](): {
		"maxSurge":                    "it sizes ReplicaSets during the update",
		"maxUnavailable":              "it sizes ReplicaSets during the update",
		"scaleDownDelaySeconds":       "it delays scaling the old ReplicaSet down; the gateway's backends stay up",
		"scaleDownDelayRevisionLimit": "it limits old ReplicaSets kept up",
		"abortScaleDownDelaySeconds":  "it delays scaling the canary ReplicaSet down after an abort",
		"dynamicStableScale":          "it scales the stable ReplicaSet with the traffic it gets",
		"minPodsPerReplicaSet":        "it sizes ReplicaSets",
		"replicaProgressThreshold":    "it measures ReplicaSet readiness",
		"canaryMetadata":              "it labels the canary's pods",
		"stableMetadata":              "it labels the stable pods",
		"antiAffinity":                "it places pods on nodes",
		"pingPong":                    "it alternates two Services between ReplicaSets; here the two backends are named and fixed",
	},
	reflect.TypeFor[BlueGreenStrategy](): {
		"previewReplicaCount":         "it sizes the preview ReplicaSet",
		"scaleDownDelayRevisionLimit": "it limits old ReplicaSets kept up",
		"abortScaleDownDelaySeconds":  "it delays scaling the preview ReplicaSet down after an abort",
		"maxUnavailable":              "it sizes ReplicaSets during the update",
		"antiAffinity":                "it places pods on nodes",
		"activeMetadata":              "it labels the active pods",
		"previewMetadata":             "it labels the preview pods",
	},
	reflect.TypeFor[Step](): {
		"setCanaryScale":           "it sizes the canary ReplicaSet apart from its traffic; the step does nothing here",
		"experiment":               "it runs extra ReplicaSets for a while; the step does nothing here",
		"replicaProgressThreshold": "it waits for a share of the canary's pods to be ready; the step does nothing here",
	},
	reflect.TypeFor[StepAnalysis](): {
		"analysisRunMetadata": "it labels Argo's AnalysisRun objects, which the gateway does not create",
	},
	reflect.TypeFor[BackgroundAnalysis](): {
		"analysisRunMetadata": "it labels Argo's AnalysisRun objects, which the gateway does not create",
	},
}

// Fields that need Kubernetes: refused with the reason unless the config
// is parsed for cutover-kube (ParseOptions.Kubernetes).
var standaloneRefusedFields = map[reflect.Type]map[string]string{
	reflect.TypeFor[Provider](): {
		"job": "the job provider runs a Kubernetes Job, which the standalone gateway cannot start (use prometheus, gateway, web, datadog or load; cutover-kube runs it)",
	},
	reflect.TypeFor[AnalysisArg](): {
		"valueFrom": "valueFrom reads a Secret or a field of the Cutover, which exist only on Kubernetes: give the value",
	},
	reflect.TypeFor[DatadogProvider](): {
		"secretRef": "it reads the keys from a Kubernetes Secret; set DD_API_KEY, DD_APP_KEY (and DD_ADDRESS) in cutover's environment, or use cutover-kube",
	},
}

// Fields of Argo's documents that ask for something the gateway cannot do:
// refused with the reason.
var refusedFields = map[reflect.Type]map[string]string{
	reflect.TypeFor[Step](): {
		"plugin": "a step plugin runs code loaded into Argo's controller; cutover cannot run it",
	},
	reflect.TypeFor[Provider](): {
		"plugin":     "a metric plugin runs code loaded into Argo's controller; cutover cannot run it",
		"kayenta":    "the kayenta provider is not supported (use prometheus, gateway, web, datadog or load)",
		"cloudWatch": "the cloudWatch provider is not supported (use prometheus, gateway, web, datadog or load)",
		"graphite":   "the graphite provider is not supported (use prometheus, gateway, web, datadog or load)",
		"influxdb":   "the influxdb provider is not supported (use prometheus, gateway, web, datadog or load)",
		"newRelic":   "the newRelic provider is not supported (use prometheus, gateway, web, datadog or load)",
		"skywalking": "the skywalking provider is not supported (use prometheus, gateway, web, datadog or load)",
		"wavefront":  "the wavefront provider is not supported (use prometheus, gateway, web, datadog or load)",
	},
	reflect.TypeFor[WebProvider](): {
		"authentication": "OAuth2 for the web provider is not supported: put a token in headers",
	},
	reflect.TypeFor[ArgValueFrom](): {
		"podTemplateHashValue": "it names a ReplicaSet's pod-template hash; cutover moves traffic between backends and has none",
	},
}
