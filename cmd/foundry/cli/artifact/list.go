package artifact

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// ListOptions are the flags of `artifact list`.
type ListOptions struct {
	IO        *cmdutil.IOStreams
	Connect   func(context.Context) (*client.Client, error)
	Now       func() time.Time
	Component string
	Version   string
	JSON      bool
}

// NewCmdList is `foundry artifact list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	o := &ListOptions{IO: f.IO, Connect: f.Connect, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the artifact store and whether each file still matches its signature",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return listRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Component, "component", "", "only this component's artifacts")
	cmd.Flags().StringVar(&o.Version, "version", "", "only this version's artifacts")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func listRun(ctx context.Context, o *ListOptions) error {
	if o.Component != "" {
		if err := messages.ValidComponent(o.Component); err != nil {
			return cmdutil.FlagErrorf("--component: %v", err)
		}
	}
	if o.Version != "" {
		if err := messages.ValidVersion(o.Version); err != nil {
			return cmdutil.FlagErrorf("--version: %v", err)
		}
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{Component: o.Component, Version: o.Version})
	if err != nil {
		return fmt.Errorf("list artifacts: %w", err)
	}
	arts := res.Artifacts
	if arts == nil {
		arts = []messages.Artifact{}
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, arts)
	}
	tty := o.IO.IsStdoutTTY()
	if len(arts) == 0 {
		if tty {
			fmt.Fprintln(o.IO.ErrOut, "No artifacts yet. Import one with: foundry artifact import <component> <version> <file-or-dir>")
		}
		return nil
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := cmdutil.NewTable(o.IO, "COMPONENT", "VERSION", "FILE", "SIZE", "SHA256", "VERIFIED", "IMPORTED")
	for _, a := range arts {
		// A terminal gets short forms; a pipe gets exact bytes and the
		// whole digest, which scripts can use.
		size, sum := fmt.Sprint(a.Size), a.SHA256
		if tty {
			size = cmdutil.Bytes(uint64(max(a.Size, 0)))
			if len(sum) > 12 {
				sum = sum[:12]
			}
		}
		if sum == "" {
			sum = "-"
		}
		verified := "yes"
		if !a.Verified {
			verified = "no: " + a.Problem
		}
		t.Row(a.Component, a.Version, a.File, size, sum, verified, cmdutil.FormatTime(o.IO, time.UnixMilli(a.Imported), now()))
	}
	return t.Render()
}
