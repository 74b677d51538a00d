// Package controller holds the `foundry controller` verbs.
package controller

import (
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

// NewCmdController is the `controller` noun.
func NewCmdController(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "controller <verb>", Short: "Run and manage the controller"}
	cmd.AddCommand(NewCmdRun(f, nil), NewCmdInfo(f, nil), NewCmdInit(f, nil),
		NewCmdRotateCerts(f, nil), NewCmdRotateSigningKey(f, nil), NewCmdWebLogin(f, nil))
	return cmd
}
