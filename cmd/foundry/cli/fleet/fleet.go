// Package fleet holds the `foundry fleet` verbs: commands fanned out to
// many hosts at once.
package fleet

import (
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

// NewCmdFleet is the `fleet` noun.
func NewCmdFleet(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "fleet <verb>", Short: "Run commands across the fleet"}
	cmd.AddCommand(NewCmdStatus(f, nil))
	return cmd
}
