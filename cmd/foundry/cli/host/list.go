package host

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// ListOptions are the flags of `host list`.
type ListOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Now     func() time.Time
	JSON    bool
	State   string
}

// NewCmdList is `foundry host list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Connect: f.Connect, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List hosts from the registry with state, last seen, OS and agent version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch opts.State {
			case "", messages.StateOnline, messages.StateStale, messages.StateOffline, messages.StateDisconnected, messages.StateEnrolled:
			default:
				return cmdutil.FlagErrorf("--state %q must be online, stale, offline, disconnected or enrolled", opts.State)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&opts.State, "state", "", "only hosts in this state (online, stale, offline, disconnected, enrolled)")
	return cmd
}

func listRun(ctx context.Context, o *ListOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.HostList(ctx)
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	hosts := res.Hosts[:0]
	for _, h := range res.Hosts {
		if o.State == "" || h.State == o.State {
			hosts = append(hosts, h)
		}
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, hosts)
	}
	if len(hosts) == 0 {
		if o.IO.IsStdoutTTY() {
			fmt.Fprintln(o.IO.ErrOut, "No hosts yet. Add one with: foundry host add <host>")
		}
		return nil
	}
	now := o.Now()
	t := cmdutil.NewTable(o.IO, "HOST", "STATE", "LAST SEEN", "HOSTNAME", "OS", "AGENT")
	for _, h := range hosts {
		t.Row(h.ID, h.State, cmdutil.FormatTime(o.IO, time.UnixMilli(h.LastSeen), now), h.Facts.Hostname,
			osString(h.Facts), h.Facts.AgentVersion)
	}
	return t.Render()
}

func osString(f messages.Facts) string {
	if f.OS == "" {
		return "-"
	}
	return f.OS + " " + f.OSVersion
}
