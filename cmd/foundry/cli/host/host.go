// Package host holds the `foundry host` verbs.
package host

import (
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

// NewCmdHost is the `host` noun.
func NewCmdHost(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "host <verb>", Short: "Manage the hosts in the fleet"}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdEnroll(f, nil), NewCmdAdd(f, nil), NewCmdRemove(f, nil), NewCmdRekey(f, nil), NewCmdConfigure(f, nil), NewCmdSSH(f, nil))
	return cmd
}
