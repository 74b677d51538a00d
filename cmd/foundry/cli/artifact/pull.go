package artifact

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/installer/helm"
)

// PullOptions are the arguments and flags of `artifact pull`.
type PullOptions struct {
	IO        *cmdutil.IOStreams
	Component string
	Version   string // --version; "" is the newest
	Dir       string
	// Pull downloads a chart (helm.PullUpstream); tests replace it, since
	// the upstream repositories are on the internet.
	Pull func(chart, version, dir string) (string, error)
}

// NewCmdPull is `foundry artifact pull <component> [--version]`. It is
// deliberately small: a `helm pull` from the chart's upstream repository
// on a machine with internet, then the import command to run. It cannot
// be tested on the test machines (no internet); only its input checks are.
func NewCmdPull(f *cmdutil.Factory, runF func(context.Context, *PullOptions) error) *cobra.Command {
	o := &PullOptions{IO: f.IO, Pull: helm.PullUpstream}
	cmd := &cobra.Command{
		Use:   "pull <component>",
		Short: "Download a cluster component's chart from its upstream repository (needs internet)",
		Long: `Download a cluster component's Helm chart from its upstream repository, as
helm pull does, into --dir; then import it with the command printed. Needs
internet: on an air-gapped site run it on a machine that has it and copy
the .tgz over.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Component = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return pullRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Version, "version", "", "chart version (default: the newest)")
	cmd.Flags().StringVar(&o.Dir, "dir", ".", "directory to write the chart archive to")
	return cmd
}

func pullRun(_ context.Context, o *PullOptions) error {
	chart := chartOf(o.Component)
	if chart == "" {
		return cmdutil.FlagErrorf("%s is not a cluster component with a Helm chart; pull one of cert-manager, contour, external-dns, prometheus, loki, grafana, minio, velero, argocd", o.Component)
	}
	path, err := o.Pull(chart, o.Version, o.Dir)
	if err != nil {
		return err
	}
	ch, err := helm.LoadChartFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.IO.Out, path)
	fmt.Fprintf(o.IO.ErrOut, "next: foundry artifact import %s %s %s\n", o.Component, ch.Metadata.Version, path)
	return nil
}
