package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/traffic/gatewayapi"
	"github.com/cutover-dev/cutover/traffic/istio"
)

// Client acts on Cutover resources the way the Argo Rollouts kubectl
// plugin acts on Rollouts: it reads them, and sends commands that the
// controller carries out.
type Client struct {
	c         client.Client
	Namespace string
}

// NewClient connects with a kubeconfig file (empty: $KUBECONFIG, then
// ~/.kube/config, then in-cluster) and context (empty: the current one).
func NewClient(kubeconfig, context, namespace string) (*Client, error) {
	cfg, ns, err := RestConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = ns
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	return &Client{c: c, Namespace: namespace}, nil
}

// RestConfig loads a kubeconfig file (empty: $KUBECONFIG, then
// ~/.kube/config, then in-cluster) at a context (empty: the current one),
// and the context's namespace.
func RestConfig(kubeconfig, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	return cfg, ns, err
}

// View reads a Cutover as the plan view the CLI draws.
func (k *Client) View(ctx context.Context, name string) (*rollout.View, error) {
	co := &v1alpha1.Cutover{}
	if err := k.c.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: name}, co); err != nil {
		return nil, err
	}
	fromCluster, err := argoTemplates(ctx, k.c, co)
	if err != nil {
		return nil, err
	}
	resolved, fromCluster, err := resolveArgs(ctx, k.c, co, fromCluster)
	if err != nil {
		return ViewOf(co) // drawn without the plan's steps; the status says why
	}
	return ViewOf(resolved, fromCluster...)
}

// ViewOf draws a Cutover from its spec and status, with the Argo templates
// it names read from the cluster.
func ViewOf(co *v1alpha1.Cutover, fromCluster ...clusterTemplate) (*rollout.View, error) {
	v := &rollout.View{Name: co.Name, Stable: side(co.Spec.Stable), Canary: side(co.Spec.Canary)}
	if ist := co.Spec.TrafficRouting.Istio; ist != nil {
		v.Router, v.Route = istio.Type, "VirtualService "+ist.VirtualService.Name
	} else if gw := co.Spec.TrafficRouting.GatewayAPI; gw != nil {
		v.Router, v.Route = gatewayapi.Type, "HTTPRoute "+gw.HTTPRoute.Name
	}
	if raw := co.Status.Engine.Raw; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &v.State); err != nil {
			return nil, fmt.Errorf("status.engine of Cutover %s: %w", co.Name, err)
		}
	}
	if co.Status.Phase == PhaseInvalid {
		v.State.Phase, v.State.Reason = PhaseInvalid, co.Status.Message
	}
	if plan, err := planFor(co, fromCluster...); err == nil {
		*v = rollout.ViewOfPlan(plan, v.State, time.Now(), v.Router, v.Route, v.Stable, v.Canary)
	}
	return v, nil
}

func side(s v1alpha1.Side) string {
	if s.ExternalHost != "" {
		return s.ExternalHost
	}
	return s.Service
}

// CommandRefused is a command the plan's state refused, with the
// controller's reason.
type CommandRefused struct{ Msg string }

func (e *CommandRefused) Error() string { return e.Msg }

// Command sends a command and waits for the controller's answer. A command
// the plan's state refuses comes back as an error, as from `cutover serve`.
func (k *Client) Command(ctx context.Context, name string, cmd Command, timeout time.Duration) (*rollout.View, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	cmd.ID = hex.EncodeToString(b)
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{v1alpha1.CommandAnnotation: string(data)}}})
	co := &v1alpha1.Cutover{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: name}}
	if err := k.c.Patch(ctx, co, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := k.c.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: name}, co); err != nil {
			return nil, err
		}
		if last := co.Status.LastCommand; last != nil && last.ID == cmd.ID {
			if last.Error != "" {
				return nil, &CommandRefused{Msg: last.Error}
			}
			return ViewOf(co)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the controller did not answer %s within %s; is it running and leading?", cmd.Command, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
