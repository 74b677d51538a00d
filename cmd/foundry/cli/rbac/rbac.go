// Package rbac holds the `foundry rbac` verbs: operators, their roles and
// their credentials.
//
// An operator is an NKey identity with a role (admin or read-only). The
// key pair is made by the CLI on the machine that runs `rbac operator
// create`; only the public key is sent to the controller, and the seed is
// written once, 0600, to the file named by --out (or to stdout with
// --out -, which is refused when stdout is a terminal). Nothing else ever
// prints it.
package rbac

import (
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

// NewCmdRbac is the `rbac` noun.
func NewCmdRbac(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "rbac <noun> <verb>", Short: "Manage operators and their roles"}
	op := &cobra.Command{Use: "operator <verb>", Short: "Create, list and revoke operators"}
	op.AddCommand(NewCmdCreate(f, nil), NewCmdList(f, nil), NewCmdRevoke(f, nil))
	cmd.AddCommand(op)
	return cmd
}
