package rbac

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
)

// ListOptions are the flags of `rbac operator list`.
type ListOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	JSON    bool
	Now     func() time.Time
}

// NewCmdList is `foundry rbac operator list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Connect: f.Connect, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List operators, their roles and live connections (admins only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func listRun(ctx context.Context, o *ListOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.ListOperators(ctx)
	if err != nil {
		return fmt.Errorf("list operators: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res.Operators)
	}
	now := o.Now()
	t := cmdutil.NewTable(o.IO, "NAME", "ROLE", "STATUS", "CONNECTIONS", "CREATED", "PUBLIC KEY")
	for _, op := range res.Operators {
		status := "active"
		if op.Revoked != 0 {
			status = "revoked " + cmdutil.FormatTime(o.IO, time.UnixMilli(op.Revoked), now)
		}
		t.Row(op.Name, op.Role, status, fmt.Sprint(op.Connections), cmdutil.FormatTime(o.IO, time.UnixMilli(op.Created), now), op.PublicKey)
	}
	return t.Render()
}
