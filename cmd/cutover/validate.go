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
	cmd := &cobra.Command{
		Use:   "validate -f cutover.yaml",
		Short: "Check a config file; print each problem as file:line:col: field: message",
		Args:  cobra.NoArgs,
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
			s := cfg.Gateway.Spec
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (gateway %q: %d listener(s), %d backend(s), %d route(s); %d plan(s), %d analysis template(s))\n",
				file, cfg.Gateway.Metadata.Name, len(s.Listeners), len(s.Backends), len(s.Routes), len(cfg.Rollouts), len(cfg.Templates))
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "file", "f", []string{"cutover.yaml"}, "config file; repeat it for a config spread over several files")
	return cmd
}
