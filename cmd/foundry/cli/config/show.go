package config

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

// ShowOptions are the inputs of `config show`.
type ShowOptions struct {
	IO *cmdutil.IOStreams
	selector
	JSON bool
}

// NewCmdShow is `foundry config show`: the effective config with defaults
// filled in, secret references shown as written and inline secrets
// redacted, so it is safe to paste into a ticket.
func NewCmdShow(f *cmdutil.Factory, runF func(*ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{IO: f.IO, selector: newSelector(f)}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective stack config with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return showRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the config as JSON")
	return cmd
}

func showRun(o *ShowOptions) error {
	sel, err := o.selection()
	if err != nil {
		return err
	}
	f, err := stackconfig.Load(sel.Path)
	if err != nil {
		return err
	}
	var out []byte
	if o.JSON {
		out, err = f.Config.RedactedJSON()
	} else {
		out, err = f.Config.RedactedYAML()
	}
	if err != nil {
		return err
	}
	if n := len(f.Validate().Errors()); n > 0 {
		fmt.Fprintf(o.IO.ErrOut, "warning: %s has %s; run `foundry config validate` to see them\n", sel.Path, plural(n, "error"))
	}
	_, err = o.IO.Out.Write(out)
	return err
}
