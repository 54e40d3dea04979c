package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/spec"
)

func newValidateCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f cutover.yaml",
		Short: "Check a config file; print each problem as file:line:col: field: message",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := spec.Load(file)
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
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (gateway %q: %d listener(s), %d backend(s), %d route(s))\n",
				file, cfg.Gateway.Metadata.Name, len(s.Listeners), len(s.Backends), len(s.Routes))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "cutover.yaml", "config file")
	return cmd
}
