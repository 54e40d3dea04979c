package testenv

// WebPlan starts a Rollout document that moves route web from backend
// legacy to backend new; the test's steps follow, indented by six spaces.
const WebPlan = `---
apiVersion: cutover.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  route: web
  strategy:
    canary:
      stableService: legacy
      canaryService: new
      steps:
`
