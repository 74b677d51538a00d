package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
)

// WebLoginOptions are the flags of `controller web-login`.
type WebLoginOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	JSON    bool
}

// NewCmdWebLogin is `foundry controller web-login`: a one-time link into
// the read-only web view, for the operator whose credentials sign the
// request (admin or read-only).
func NewCmdWebLogin(f *cmdutil.Factory, runF func(context.Context, *WebLoginOptions) error) *cobra.Command {
	opts := &WebLoginOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "web-login",
		Short: "Print a one-time login link to the controller's web view",
		Long: `Print a one-time login link to the read-only web view of a controller
started with --http. The link works once and for two minutes; opening it
starts a browser session (8 hours) and is recorded in the audit stream.
Treat the link like a password until it is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return webLoginRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func webLoginRun(ctx context.Context, o *WebLoginOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.WebLogin(ctx)
	if err != nil {
		return fmt.Errorf("web login: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res)
	}
	_, err = fmt.Fprintf(o.IO.Out, "%s\n(one use, until %s)\n", res.URL, time.UnixMilli(res.ExpiresAt).Format(time.TimeOnly))
	return err
}
