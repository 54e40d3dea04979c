package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/spec"
)

func newValidateCmd(g *globals) *cobra.Command {
	var files []string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate -f cutover.yaml [--strict]",
		Short: "Check a config file; print each problem as file:line:col: field: message",
		Long: `Check a config file; print each problem as file:line:col: field: message.

Fields of Argo Rollouts' documents that only size or label pods (replicas,
maxSurge, setCanaryScale, experiment steps, ...) are accepted with a warning
each, saying why they have no effect here; --strict refuses them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := spec.Load(files...)
			file := strings.Join(files, ", ")
			var list spec.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					fmt.Fprintln(cmd.OutOrStdout(), e)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d problem(s)\n", file, len(list))
				return exitError(1)
			}
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings {
				if strict {
					fmt.Fprintln(cmd.OutOrStdout(), w)
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
				}
			}
			if strict && len(cfg.Warnings) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d field(s) without effect here (--strict)\n", file, len(cfg.Warnings))
				return exitError(1)
			}
			s := cfg.Gateway.Spec
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (gateway %q: %d listener(s), %d backend(s), %d route(s); %d plan(s), %d analysis template(s))\n",
				file, cfg.Gateway.Metadata.Name, len(s.Listeners), len(s.Backends), len(s.Routes), len(cfg.Rollouts), len(cfg.Templates))
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "refuse fields that have no effect here, instead of warning")
	cmd.Flags().StringSliceVarP(&files, "file", "f", []string{"cutover.yaml"}, "config file; repeat it for a config spread over several files")
	return cmd
}
