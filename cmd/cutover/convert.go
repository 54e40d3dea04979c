package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/convert"
	"github.com/cutover-dev/cutover/spec"
)

func newConvertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Turn other tools' documents into a cutover config",
	}
	var files []string
	var output string
	var kube bool
	argo := &cobra.Command{
		Use:   "argo -f rollout.yaml [-f template.yaml ...] [-o cutover.yaml]",
		Short: "Turn Argo Rollouts' Rollouts and analysis templates into a Gateway, plans and AnalysisTemplates",
		Long: `Turn Argo Rollouts' documents, as they are, into a cutover config.

Each Rollout becomes a plan on a route of its own (named after its Istio
VirtualService, Gateway API HTTPRoute, Ingress or TrafficSplit, or after the
Rollout), over a backend per Service it names, at the Service's address in
the cluster. The strategy's fields are carried over as written; check the
result with cutover validate, which warns about those that only concern
pods. AnalysisTemplates and ClusterAnalysisTemplates become
AnalysisTemplates. What was left out or assumed is printed on stderr, one
line each, as file:line: note.

With --kube it writes a Cutover resource per Rollout instead: its Services
as the stable and canary sides, its Istio VirtualService or Gateway API
HTTPRoute as the traffic routing, the templates given as its
analysisTemplates (others are read from the cluster by name).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("--file: give at least one file of Argo documents")
			}
			var srcs []spec.Source
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				srcs = append(srcs, spec.Source{File: f, Data: data})
			}
			conv := convert.Argo
			if kube {
				conv = convert.ArgoKube
			}
			out, notes, err := conv(srcs)
			for _, n := range notes {
				fmt.Fprintln(cmd.ErrOrStderr(), n)
			}
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			return os.WriteFile(output, out, 0o644)
		},
	}
	argo.Flags().StringSliceVarP(&files, "file", "f", nil, "file of Argo documents; repeat it for several")
	argo.Flags().StringVarP(&output, "output", "o", "", "write the config to this file instead of stdout")
	argo.Flags().BoolVar(&kube, "kube", false, "write Cutover resources for cutover-kube instead of a gateway config")
	cmd.AddCommand(argo)
	return cmd
}
