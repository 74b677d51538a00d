package secret

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// ListOptions are the inputs of `secret list`.
type ListOptions struct {
	IO  *cmdutil.IOStreams
	Ctx context.Context
	Bao func() (*secrets.BaoClient, error)

	Path string // "" lists the mount's top level
	JSON bool
}

// NewCmdList is `foundry secret list`: the secrets and folders directly
// under a path, without reading any value.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	d := newDeps(f)
	opts := &ListOptions{IO: f.IO, Bao: d.bao}
	cmd := &cobra.Command{
		Use:   "list [path]",
		Short: "List secrets and folders under a path",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Path = strings.Trim(args[0], "/")
				if reason := secrets.ValidPath(opts.Path); opts.Path != "" && reason != "" {
					return cmdutil.FlagErrorf("secret path %q: %s", args[0], reason)
				}
			}
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

type listJSON struct {
	Path string   `json:"path"`
	Keys []string `json:"keys"`
}

func listRun(o *ListOptions) error {
	bao, err := o.Bao()
	if err != nil {
		return err
	}
	keys, err := bao.KVList(ctxOf(o.Ctx), o.Path)
	if err != nil {
		return err
	}
	if o.JSON {
		if keys == nil {
			keys = []string{}
		}
		return cmdutil.WriteJSON(o.IO.Out, listJSON{Path: o.Path, Keys: keys})
	}
	if len(keys) == 0 {
		if o.IO.IsStdoutTTY() {
			fmt.Fprintf(o.IO.ErrOut, "No secrets under %q.\n", o.Path)
		}
		return nil
	}
	t := cmdutil.NewTable(o.IO, "PATH")
	for _, k := range keys {
		p := k
		if o.Path != "" {
			p = o.Path + "/" + k
		}
		t.Row(p)
	}
	return t.Render()
}
