// Package agent holds the `foundry agent` verbs: what concerns the agent
// binary on the hosts themselves (its version), as opposed to `host`
// (the hosts in the fleet).
package agent

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/messages"
)

// NewCmdAgent is the `agent` noun.
func NewCmdAgent(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "agent <verb>", Short: "Manage the Foundry agent on the hosts (upgrade)"}
	cmd.AddCommand(NewCmdUpgrade(f, nil))
	return cmd
}

// Fleet is what the agent verbs ask of the controller; *client.Client is
// one, and tests pass a fake.
type Fleet interface {
	HostList(ctx context.Context) (messages.HostListResult, error)
	ListArtifacts(ctx context.Context, req messages.ArtifactListRequest) (messages.ArtifactListResult, error)
	RunJob(ctx context.Context, req messages.JobRunRequest) (messages.JobRecord, error)
	Job(ctx context.Context, id string) (messages.JobRecord, error)
	Close()
}

// connect adapts the factory's Connect to Fleet.
func connect(f *cmdutil.Factory) func(context.Context) (Fleet, error) {
	return func(ctx context.Context) (Fleet, error) {
		cl, err := f.Connect(ctx)
		if err != nil {
			return nil, err
		}
		return cl, nil
	}
}
