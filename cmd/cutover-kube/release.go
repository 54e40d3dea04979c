package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/manifest"
)

func newReleaseCmd() *cobra.Command {
	release := &cobra.Command{Use: "release", Short: "Release steps of the generated manifest repository"}
	var dir, from, to string
	notes := &cobra.Command{
		Use:   "notes --from REF --to REF [-C dir]",
		Short: "List the image versions and resource totals that change between two refs, in Markdown",
		Long: `Reads overlays/ of the generated tree at two git refs of its repository
(with git) and writes, per environment and service, the images and the
requests times replicas that change, for a pull request or a tag's notes
(handbook §6.4: release branches are promoted by pull request).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return fmt.Errorf("--from and --to are both needed")
			}
			top, err := gitOut(dir, "rev-parse", "--show-toplevel")
			if err != nil {
				return fmt.Errorf("-C %s: not in a git repository: %w", dir, err)
			}
			root, err := gitOut(dir, "rev-parse", "--show-prefix")
			if err != nil {
				return err
			}
			root = strings.TrimSuffix(root, "/")
			if root == "" {
				root = "."
			}
			a, err := manifest.ReadReleases(top, root, from)
			if err != nil {
				return fmt.Errorf("--from %s: %w", from, err)
			}
			z, err := manifest.ReadReleases(top, root, to)
			if err != nil {
				return fmt.Errorf("--to %s: %w", to, err)
			}
			_, err = cmd.OutOrStdout().Write(manifest.ReleaseNotes(a, z, from, to))
			return err
		},
	}
	f := notes.Flags()
	f.StringVarP(&dir, "dir", "C", ".", "the generated tree (the directory holding overlays/), inside its git repository")
	f.StringVar(&from, "from", "", "the ref released before (a tag, a branch, a commit)")
	f.StringVar(&to, "to", "", "the ref being released")
	release.AddCommand(notes)
	return release
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
