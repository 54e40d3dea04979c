package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/cutover-dev/cutover/capacity"
	"github.com/cutover-dev/cutover/manifest"
	"github.com/cutover-dev/cutover/manifest/config"
)

func newCapacityCmd() *cobra.Command {
	var (
		configDir, service, env, measured, writeDir, domain string
		podLimit, clusterCPU, downstream, target            float64
		updateConfig                                        bool
	)
	cmd := &cobra.Command{
		Use:   "capacity --service NAME --env ENV --measured APP+SIDECAR@RPS --cluster-cpu CORES",
		Short: "Size a service from a load test with the handbook's §15 formulas",
		Long: `Reads the service's resources and HPA from config/<service>.yaml and the
sidecar's and the request floor from the definitions, takes what a load
test measured (--measured 0.75+0.15@250: the app and sidecar CPU, in cores,
of one pod at 250 rps; --pod-limit: the rate cutover load --find-limit
found), and prints §15's quantities with their formulas: requests, the HPA
trigger rps, what the replicas serve without scaling out, the most that
the cluster's CPU allows, the sidecar's part in the utilisation, and the
global rate limit. --write DIR writes the autoscaling block for the
service's config and an envoyproxy/ratelimit file for cutover ratelimit serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			defs, err := manifest.LoadDefinitions(configDir)
			if err != nil {
				return err
			}
			svc, err := config.LoadService(filepath.Join(configDir, service+".yaml"))
			if err != nil {
				return err
			}
			if _, ok := svc.Environments[env]; !ok {
				return fmt.Errorf("--env %q: %s has no such environment", env, svc.File)
			}
			c := svc.Resolve(env)
			if c.Resources == nil {
				return fmt.Errorf("%s: %s.resources: needed for capacity", svc.File, env)
			}
			in := capacity.Input{PodLimitRPS: podLimit, ClusterCPU: clusterCPU, DownstreamRPS: downstream, HPATarget: target}
			for _, q := range []struct {
				field string
				value string
				dst   *float64
			}{
				{env + ".resources.requests.cpu", c.Resources.Requests.CPU, &in.AppRequestCPU},
				{env + ".resources.limits.cpu", c.Resources.Limits.CPU, &in.AppLimitCPU},
				{"definitions sidecar.cpu", defs.Sidecar.CPU, &in.SidecarRequestCPU},
				{"definitions sidecar.cpuLimit", defs.Sidecar.CPULimit, &in.SidecarLimitCPU},
				{"definitions resourceFloor.cpu", defs.ResourceFloor.CPU, &in.FloorCPU},
			} {
				v, err := resource.ParseQuantity(q.value)
				if err != nil {
					return fmt.Errorf("%s: %q is not a CPU quantity", q.field, q.value)
				}
				*q.dst = float64(v.MilliValue()) / 1000
			}
			in.Replicas = 1
			if c.Replicas != nil {
				in.Replicas = *c.Replicas
			}
			if a := c.Autoscaling; a != nil {
				in.Replicas = a.MinReplicas
				if !cmd.Flags().Changed("hpa-target") {
					in.HPATarget = float64(a.TargetCPUUtilization)
				}
			}
			usage, rps, ok := strings.Cut(measured, "@")
			app, side, _ := strings.Cut(usage, "+")
			if in.MeasuredRPS, err = strconv.ParseFloat(rps, 64); !ok || err != nil {
				return fmt.Errorf("--measured %q: want APP+SIDECAR@RPS, such as 0.75+0.15@250", measured)
			}
			if in.MeasuredAppCPU, err = strconv.ParseFloat(app, 64); err != nil {
				return fmt.Errorf("--measured %q: want APP+SIDECAR@RPS, such as 0.75+0.15@250", measured)
			}
			if side != "" {
				if in.MeasuredSidecarCPU, err = strconv.ParseFloat(side, 64); err != nil {
					return fmt.Errorf("--measured %q: want APP+SIDECAR@RPS, such as 0.75+0.15@250", measured)
				}
			}
			p, err := capacity.Compute(in)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# Capacity: %s in %s\n\n%s", service, env, p.Table(in))
			if updateConfig {
				src, err := os.ReadFile(svc.File)
				if err != nil {
					return err
				}
				updated, err := p.UpdateConfig(src, env, in)
				if err != nil {
					return fmt.Errorf("%s: %w", svc.File, err)
				}
				tmp := svc.File + ".tmp"
				if err := os.WriteFile(tmp, updated, 0o644); err != nil {
					return err
				}
				// The edited file must still load, or the old one stays.
				if _, err := config.LoadService(tmp); err != nil {
					os.Remove(tmp)
					return fmt.Errorf("%s: the updated config does not load: %w", svc.File, err)
				}
				if err := os.Rename(tmp, svc.File); err != nil {
					return err
				}
				fmt.Fprintf(out, "\nset environments.%s.autoscaling in %s\n", env, svc.File)
			}
			if writeDir == "" {
				return nil
			}
			key, value := ":path", "/*"
			if rl := c.RateLimits; rl != nil && rl.Global != nil && len(rl.Global.Descriptors) > 0 {
				key = rl.Global.Descriptors[0]
			}
			if len(svc.Paths) > 0 {
				value = strings.TrimSuffix(svc.Paths[0], "/") + "*"
			}
			if domain == "" {
				domain = defs.PartOf
			}
			if err := os.MkdirAll(writeDir, 0o755); err != nil {
				return err
			}
			files := map[string]string{
				service + "-" + env + "-autoscaling.yaml": "# For config/" + service + ".yaml, environments." + env + ": from cutover capacity.\n" + p.HPAConfig(in),
				service + "-" + env + "-ratelimit.yaml":   "# For cutover ratelimit serve: from cutover capacity.\n" + p.RateLimitConfig(domain, key, value),
			}
			for name, data := range files {
				if err := os.WriteFile(filepath.Join(writeDir, name), []byte(data), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(out, "\nwrote %s\n", filepath.Join(writeDir, name))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configDir, "config", "c", "config", "the generator's config directory")
	f.StringVar(&service, "service", "", "the service, config/<service>.yaml")
	f.StringVar(&env, "env", "production", "the environment")
	f.StringVar(&measured, "measured", "", "CPU one pod used at a rate: APP+SIDECAR@RPS, in cores")
	f.Float64Var(&podLimit, "pod-limit", 0, "the pod's performance limit in rps (cutover load --find-limit)")
	f.Float64Var(&clusterCPU, "cluster-cpu", 0, "the most requests.cpu the cluster gives the service, in cores")
	f.Float64Var(&downstream, "downstream-rps", 0, "the most rps the services behind it take (0: no bound)")
	f.Float64Var(&target, "hpa-target", 80, "the HPA's targetCPUUtilization when the config has none")
	f.StringVar(&writeDir, "write", "", "write the autoscaling block and a rate-limit file here")
	f.BoolVar(&updateConfig, "update-config", false, "set the environment's autoscaling in config/<service>.yaml itself")
	f.StringVar(&domain, "domain", "", "rate-limit domain of the written file (default: the definitions' partOf)")
	cmd.MarkFlagRequired("service")
	cmd.MarkFlagRequired("measured")
	cmd.MarkFlagRequired("cluster-cpu")
	return cmd
}
