package rbac

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// RevokeOptions are the flags of `rbac operator revoke`.
type RevokeOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Name    string
	Yes     bool
	JSON    bool
}

// NewCmdRevoke is `foundry rbac operator revoke <name>`.
func NewCmdRevoke(f *cmdutil.Factory, runF func(context.Context, *RevokeOptions) error) *cobra.Command {
	opts := &RevokeOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "revoke <name> [--yes]",
		Short: "Revoke an operator: close its connections now, refuse its credentials forever",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := messages.ValidOperatorName(opts.Name); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return revokeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func revokeRun(ctx context.Context, o *RevokeOptions) error {
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Revoke operator %s? Its connections close now and its credentials never work again.", o.Name)); err != nil {
		return err
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: o.Name})
	if err != nil {
		return fmt.Errorf("revoke operator %s: %w", o.Name, err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res)
	}
	_, err = fmt.Fprintf(o.IO.Out, "Revoked operator %s (key %s); closed %d connection(s).\n", res.Name, res.PublicKey, res.Disconnected)
	return err
}
