package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
)

const jobTemplate = `  analysisTemplates:
  - name: smoke-job
    spec:
      metrics:
      - name: smoke
        provider:
          job:
            metadata: {labels: {team: web}}
            spec:
              backoffLimit: 0
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: smoke, image: curlimages/curl, command: [curl, -f, "http://web-canary/health"]}]
`

// Argo's job provider on Kubernetes: the measurement is a real batch/v1
// Job owned by the Cutover; its Complete or Failed condition, set here as
// the Job controller would (envtest runs none), decides the step.
func TestJobMetricRunsAKubernetesJob(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	h.startController()
	for name, succeed := range map[string]bool{"web": true, "web2": false} {
		doc := strings.Replace(fmt.Sprintf(plan, name, istioRouting), "      - pause: {}\n", "      - analysis: {templates: [{templateName: smoke-job}]}\n", 1)
		h.apply(strings.Replace(doc, "  trafficRouting:\n", jobTemplate+"  trafficRouting:\n", 1))
		var job batchv1.Job
		h.eventually("the Job of "+name, func() bool {
			jobs := &batchv1.JobList{}
			if err := h.c.List(h.ctx, jobs, client.InNamespace("shop"), client.MatchingLabels{labelCutover: name}); err != nil || len(jobs.Items) == 0 {
				return false
			}
			job = jobs.Items[0]
			return true
		})
		if job.Labels["team"] != "web" || job.Labels[labelMetric] != "smoke" || len(job.OwnerReferences) != 1 || job.OwnerReferences[0].Kind != "Cutover" ||
			job.Spec.Template.Spec.Containers[0].Image != "curlimages/curl" {
			t.Fatalf("job %+v", job.ObjectMeta)
		}
		h.waitFor(name, "the analysis step", phaseAt("Analyzing", 4))
		now := metav1.NewTime(time.Now())
		job.Status.StartTime = &now
		if succeed {
			job.Status.CompletionTime, job.Status.Succeeded = &now, 1
			job.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}
		} else {
			job.Status.Failed = 1
			job.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			}
		}
		if err := h.c.Status().Update(h.ctx, &job); err != nil {
			t.Fatal(err)
		}
		co := h.waitFor(name, "the verdict", func(co *v1alpha1.Cutover) bool {
			return co.Status.Phase == "Completed" || co.Status.Phase == "Aborted"
		})
		if want := map[bool]string{true: "Completed", false: "Aborted"}[succeed]; co.Status.Phase != want {
			t.Fatalf("%s: %s (%s), want %s", name, co.Status.Phase, co.Status.Message, want)
		}
	}
}
