// Package rbac holds the `foundry rbac` verbs: Foundry's operators (who
// may drive the controller), and the stack's users and service accounts
// (who may use the cluster and OpenBAO).
//
// `rbac operator create|list|revoke` manage operators, as before.
// `rbac user create|grant`, `rbac serviceaccount create` and `rbac list`
// manage users and service accounts through installer/access; `rbac list`
// lists those (joined from OpenBAO and Kubernetes), not operators. Only
// an admin operator may run them.
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
	return NewCmdRbacWith(f, NewDeps(f))
}

// NewCmdRbacWith is the `rbac` noun with the user verbs' dependencies
// given, for tests that point them at a test cluster and OpenBAO.
func NewCmdRbacWith(f *cmdutil.Factory, d Deps) *cobra.Command {
	cmd := &cobra.Command{Use: "rbac <noun> <verb>", Short: "Manage operators, users and service accounts"}
	op := &cobra.Command{Use: "operator <verb>", Short: "Create, list and revoke operators"}
	op.AddCommand(NewCmdCreate(f, nil), NewCmdList(f, nil), NewCmdRevoke(f, nil))
	cmd.AddCommand(op, NewCmdUser(f, d), NewCmdServiceAccount(f, d), NewCmdUsersList(f, d, nil))
	return cmd
}
