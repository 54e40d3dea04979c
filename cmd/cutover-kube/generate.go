package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cutover-dev/cutover/manifest"
	"github.com/cutover-dev/cutover/manifest/templates"
	"github.com/cutover-dev/cutover/spec"
)

func newGenerateCmd() *cobra.Command {
	var (
		configDir, outDir string
		scope             manifest.Scope
		check, diff       bool
	)
	cmd := &cobra.Command{
		Use:   "generate [-c config] [-o dir]",
		Short: "Generate Kubernetes manifests, Argo CD applications and a resource report from config/",
		Long: `Reads config/<service>.yaml (and config/definitions.yaml) and writes, beside config/:
  overlays/<env>/<service>/   one file per object and a kustomization.yaml
  argocd/<env>/               the app-of-apps: apps.yaml and apps/<service>.yaml
  report/<env>/resources.md   requests per node role and per object
  cutover/<env>/<service>.yaml  the cutover Gateway and plan of services being migrated
Generated files that the config no longer produces are removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				outDir = filepath.Dir(filepath.Clean(configDir))
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			tree, err := manifest.Generate(configDir)
			var list spec.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					fmt.Fprintln(out, e)
				}
				fmt.Fprintf(errOut, "%s: %d problem(s); nothing written\n", configDir, len(list))
				return exitError(1)
			}
			if err != nil {
				return err
			}
			if diff {
				for _, env := range tree.EnvNames() {
					if !inScope(scope.Envs, env) {
						continue
					}
					old, _ := os.ReadFile(filepath.Join(outDir, "report", env, "resources.md"))
					totals, ok := manifest.ParseTotals(old)
					if !ok {
						fmt.Fprintf(out, "%s: no earlier report\n", env)
					}
					lines := tree.Reports[env].DiffTotals(totals)
					if ok && len(lines) == 0 {
						fmt.Fprintf(out, "%s: totals unchanged\n", env)
					}
					for _, l := range lines {
						fmt.Fprintln(out, l)
					}
				}
			}
			if check {
				changes, err := tree.Changes(outDir, scope)
				if err != nil {
					return err
				}
				for _, c := range changes {
					fmt.Fprintf(out, "%-6s %s\n", c.Kind, c.Path)
				}
				if len(changes) > 0 {
					fmt.Fprintf(errOut, "%d file(s) differ from what %s generates; run cutover generate\n", len(changes), configDir)
					return exitError(1)
				}
				fmt.Fprintf(out, "%s: up to date (%d files)\n", outDir, len(tree.Files))
				return nil
			}
			changes, err := tree.Write(outDir, scope)
			if err != nil {
				return err
			}
			for _, c := range changes {
				fmt.Fprintf(out, "%-6s %s\n", c.Kind, c.Path)
			}
			fmt.Fprintf(out, "%d service(s), %d object(s), %d file(s); %d changed\n",
				len(tree.Services), len(tree.Resources), len(tree.Files), len(changes))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configDir, "config", "c", "config", "directory of service configs")
	f.StringVarP(&outDir, "out", "o", "", "where overlays/, argocd/ and report/ go (default: beside the config directory)")
	f.StringSliceVar(&scope.Envs, "env", nil, "only these environments (repeatable)")
	f.StringSliceVar(&scope.Services, "service", nil, "only these services (repeatable)")
	f.BoolVar(&check, "check", false, "write nothing; exit 1 when the tree on disk differs from what would be generated")
	f.BoolVar(&diff, "diff", false, "print how each environment's resource totals change against the last report")
	return cmd
}

func inScope(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func newNewCmd() *cobra.Command {
	newCmd := &cobra.Command{Use: "new", Short: "Scaffold new config"}
	var configDir, template string
	service := &cobra.Command{
		Use:   "service NAME --template node-bff",
		Short: "Write config/NAME.yaml, a commented service config to edit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
				return fmt.Errorf("service name %q: %s", name, strings.Join(msgs, "; "))
			}
			t, ok := templates.Lookup(template)
			if !ok {
				return fmt.Errorf("--template: unknown template %q; one of %s", template, strings.Join(templates.Names(), ", "))
			}
			file := filepath.Join(configDir, name+".yaml")
			if err := os.MkdirAll(configDir, 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s already exists; not overwritten", file)
			}
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(f, t.Scaffold, name); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (template %s); edit it, then run cutover generate -c %s\n", file, template, configDir)
			return nil
		},
	}
	service.Flags().StringVarP(&configDir, "config", "c", "config", "directory of service configs")
	service.Flags().StringVarP(&template, "template", "t", templates.NodeBFFName, "kind of service: "+strings.Join(templates.Names(), ", "))
	newCmd.AddCommand(service)
	return newCmd
}
