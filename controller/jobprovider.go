package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/spec"
)

// Labels of the Jobs a job metric starts; annotationMeasured marks a Job
// whose outcome was taken, so that the next measurement starts another.
const (
	labelCutover       = "cutover.dev/cutover"
	labelMetric        = "cutover.dev/metric"
	labelRun           = "cutover.dev/run"
	annotationMeasured = "cutover.dev/measured"
)

type cutoverKey struct{}

// withCutover gives the providers the Cutover whose plan is ticking.
func withCutover(ctx context.Context, co *v1alpha1.Cutover) context.Context {
	return context.WithValue(ctx, cutoverKey{}, co)
}

// JobProvider is Argo's job metric: each measurement is a batch/v1 Job in
// the Cutover's namespace, owned by it; Complete is a success, Failed a
// failure, and while it runs the measurement is pending, looked at again
// on the next tick. The Jobs are found again by their labels, so a
// restarted controller picks up the one it started.
type JobProvider struct {
	Client client.Client
	Reader client.Reader // lists Jobs uncached; Client when nil
}

func (p JobProvider) Measure(ctx context.Context, m *spec.Metric, started time.Time, _ analysis.Sides) (analysis.Measurement, any, error) {
	co, _ := ctx.Value(cutoverKey{}).(*v1alpha1.Cutover)
	if co == nil {
		return analysis.Measurement{}, nil, errors.New("the job provider runs in cutover-kube only")
	}
	reader := p.Reader
	if reader == nil {
		reader = p.Client
	}
	labels := map[string]string{labelCutover: co.Name, labelMetric: labelValue(m.Name), labelRun: strconv.FormatInt(started.Unix(), 10)}
	jobs := &batchv1.JobList{}
	if err := reader.List(ctx, jobs, client.InNamespace(co.Namespace), client.MatchingLabels(labels)); err != nil {
		return analysis.Measurement{}, nil, err
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if job.Annotations[annotationMeasured] != "" {
			continue
		}
		phase, msg := jobOutcome(job)
		if phase == analysis.Pending {
			return analysis.Measurement{At: time.Now(), Phase: analysis.Pending, Message: "job " + job.Name + " running"}, nil, nil
		}
		patch := client.MergeFrom(job.DeepCopy())
		if job.Annotations == nil {
			job.Annotations = map[string]string{}
		}
		job.Annotations[annotationMeasured] = string(phase)
		if err := p.Client.Patch(ctx, job, patch); err != nil {
			return analysis.Measurement{}, nil, err
		}
		return analysis.Measurement{At: time.Now(), Phase: phase, Value: "job " + job.Name, Message: msg}, nil, nil
	}
	job, err := newJob(co, m, labels, len(jobs.Items)+1)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	if err := p.Client.Create(ctx, job); err != nil {
		return analysis.Measurement{}, nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	return analysis.Measurement{At: time.Now(), Phase: analysis.Pending, Message: "job " + job.Name + " started"}, nil, nil
}

// jobOutcome reads a Job's conditions as Argo's job provider does.
func jobOutcome(job *batchv1.Job) (analysis.Phase, string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return analysis.Successful, ""
		case batchv1.JobFailed:
			return analysis.Failed, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return analysis.Pending, ""
}

func newJob(co *v1alpha1.Cutover, m *spec.Metric, labels map[string]string, n int) (*batchv1.Job, error) {
	var md struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := decodeNode(&m.Provider.Job.Metadata, &md); err != nil {
		return nil, fmt.Errorf("job metadata: %w", err)
	}
	var jobSpec batchv1.JobSpec
	if err := decodeNode(&m.Provider.Job.Spec, &jobSpec); err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	all := map[string]string{}
	for k, v := range md.Labels {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	name := fmt.Sprintf("%s-%s-%s-%d", co.Name, labelValue(m.Name), labels[labelRun], n)
	if len(name) > validation.DNS1123LabelMaxLength {
		name = strings.TrimRight(name[len(name)-validation.DNS1123LabelMaxLength:], "-.")
		name = strings.TrimLeft(name, "-.")
	}
	controller := false
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: co.Namespace, Labels: all, Annotations: md.Annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "Cutover", Name: co.Name, UID: co.UID, Controller: &controller,
			}},
		},
		Spec: jobSpec,
	}, nil
}

// decodeNode reads a YAML node kept as written into a Kubernetes type.
func decodeNode(n interface{ Decode(any) error }, out any) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// labelValue makes a metric name a label value (63 bytes, alphanumeric
// ends).
func labelValue(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}
