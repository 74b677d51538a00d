package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// RotateCertsOptions are the flags of `controller rotate-certs`.
type RotateCertsOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	JSON    bool
}

// NewCmdRotateCerts is `foundry controller rotate-certs`.
func NewCmdRotateCerts(f *cmdutil.Factory, runF func(context.Context, *RotateCertsOptions) error) *cobra.Command {
	opts := &RotateCertsOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "rotate-certs",
		Short: "Reissue the controller's TLS certificate from its CA; it is served at once, without a restart",
		Long: `Reissue the running controller's TLS server certificate from the same CA
and serve it from the next TLS handshake on. Connections that are up stay
up, and agents and CLIs, which pin the CA rather than the certificate,
accept the new one without any change on the hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return rotateCertsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func rotateCertsRun(ctx context.Context, o *RotateCertsOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.RotateCerts(ctx)
	if err != nil {
		return fmt.Errorf("rotate certificates: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res)
	}
	t := cmdutil.NewTable(o.IO, "FIELD", "VALUE")
	t.Row("serial", res.Serial)
	t.Row("names", strings.Join(res.Names, ","))
	t.Row("expires", time.UnixMilli(res.NotAfter).UTC().Format(time.RFC3339))
	return t.Render()
}

// RotateKeyOptions are the flags of `controller rotate-signing-key`.
type RotateKeyOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Timeout time.Duration
	JSON    bool
}

// NewCmdRotateSigningKey is `foundry controller rotate-signing-key`.
func NewCmdRotateSigningKey(f *cmdutil.Factory, runF func(context.Context, *RotateKeyOptions) error) *cobra.Command {
	opts := &RotateKeyOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "rotate-signing-key [--timeout 10s]",
		Short: "Make a new command-signing key and move every agent's trust to it",
		Long: `Make a new command-signing key and move every enrolled agent to it with
signed trust_update commands: first agents trust the old and the new key,
then the controller signs with the new key, then agents trust only the new
one. Hosts that do not answer keep the old key until they next connect,
when the controller brings them forward by itself (it keeps the old key
for that). Exit status 3 means some hosts were not updated yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Timeout <= 0 || opts.Timeout > messages.MaxValidity {
				return cmdutil.FlagErrorf("--timeout must be between 1ms and %s", messages.MaxValidity)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return rotateKeyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Second, "how long each phase waits for agents")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func rotateKeyRun(ctx context.Context, o *RotateKeyOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.RotateSigningKey(ctx, messages.RotateSigningKeyRequest{TimeoutMs: o.Timeout.Milliseconds()})
	if err != nil {
		return fmt.Errorf("rotate signing key: %w", err)
	}
	behind := len(res.Failed) + len(res.Missing)
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.IO.Out, "New signing key %s (old %s is retired).\n", res.NewKey, res.OldKey)
		fmt.Fprintf(o.IO.Out, "%d of %d hosts now trust only the new key.\n", len(res.Updated), res.Expected)
		if behind > 0 {
			t := cmdutil.NewTable(o.IO, "HOST", "PROBLEM")
			for _, f := range res.Failed {
				t.Row(f.Host, f.Error.Code+": "+f.Error.Message)
			}
			for _, m := range res.Missing {
				t.Row(m.Host, m.Reason)
			}
			if err := t.Render(); err != nil {
				return err
			}
		}
	}
	if behind > 0 {
		return &cmdutil.ExitCodeError{Code: 3, Err: errors.New("some hosts still trust the old key; they are brought forward when they next connect, or re-run foundry host configure for them")}
	}
	return nil
}
