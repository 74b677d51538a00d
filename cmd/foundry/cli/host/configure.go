package host

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/messages"
)

// NewCmdConfigure is `foundry host configure`: re-apply the base
// configuration (SSH key, agent binary, identity, config, unit) to known
// hosts with their stored key. It is `host add` for hosts already in the
// fleet, so it is just as idempotent.
func NewCmdConfigure(f *cmdutil.Factory, runF func(context.Context, *AddOptions) error) *cobra.Command {
	opts := &AddOptions{IO: f.IO, Connect: f.Connect, Home: f.Home, Keys: keyStore(f), Configure: true}
	cmd := &cobra.Command{
		Use:   "configure <host-id>...",
		Short: "Re-apply the host's base configuration over SSH with its stored key",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, h := range args {
				if err := messages.ValidHostID(h); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			opts.Hosts = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return configureRun(cmd.Context(), opts)
		},
	}
	addFlags(cmd, opts)
	return cmd
}

// configureRun resolves host ids to their recorded SSH address and user,
// then runs the add flow.
func configureRun(ctx context.Context, o *AddOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	hl, err := cl.HostList(ctx)
	cl.Close()
	if err != nil {
		return err
	}
	byID := map[string]messages.HostRecord{}
	for _, h := range hl.Hosts {
		byID[h.ID] = h
	}
	ids := o.Hosts
	o.Hosts = nil
	var targets []target
	for _, id := range ids {
		h, ok := byID[id]
		if !ok || h.Address == "" {
			return fmt.Errorf("host %s has no recorded SSH address; add it with foundry host add <address> --id %s", id, id)
		}
		targets = append(targets, target{address: h.Address, id: id, user: h.SSHUser, port: h.SSHPort})
	}
	return addTargets(ctx, o, targets)
}
