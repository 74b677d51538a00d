package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
)

// InfoOptions are the flags of `controller info`.
type InfoOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	JSON    bool
}

// NewCmdInfo is `foundry controller info`: what a running controller is
// and which keys agents pin.
func NewCmdInfo(f *cmdutil.Factory, runF func(context.Context, *InfoOptions) error) *cobra.Command {
	opts := &InfoOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the running controller's version, URLs and signing keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return infoRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func infoRun(ctx context.Context, o *InfoOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	info, err := cl.Info(ctx)
	if err != nil {
		return fmt.Errorf("controller info: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, info)
	}
	t := cmdutil.NewTable(o.IO, "FIELD", "VALUE")
	t.Row("version", info.Version)
	t.Row("urls", strings.Join(info.URLs, ","))
	t.Row("tls", fmt.Sprint(info.TLS))
	t.Row("signing keys", strings.Join(info.TrustedKeys, ","))
	t.Row("hosts", fmt.Sprint(info.Hosts))
	return t.Render()
}
