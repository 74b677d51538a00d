// Package version is the `foundry version` command: which build is
// running, so a bug report or an upgrade check names it exactly.
package version

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/packaging/buildinfo"
)

// Options are the inputs of `foundry version`.
type Options struct {
	IO    *cmdutil.IOStreams
	Build buildinfo.Info
	JSON  bool
}

// NewCmdVersion builds `foundry version`.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and platform",
		Long: `Print which build of foundry this is: its version, the commit it was built
from, the Go version and the platform. 'foundry --version' prints the same
on one line.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			opts.Build = f.Build
			return Run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run prints o.Build.
func Run(o *Options) error {
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, o.Build)
	}
	_, err := fmt.Fprint(o.IO.Out, o.Build.Lines())
	return err
}
