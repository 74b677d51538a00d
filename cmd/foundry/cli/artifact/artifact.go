// Package artifact holds the `foundry artifact` verbs: import files into
// the controller's artifact store, where the controller signs them, and
// list what the store holds with each file's verification.
package artifact

import (
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

// NewCmdArtifact is the `artifact` noun.
func NewCmdArtifact(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "artifact <verb>", Short: "Import and list signed component artifacts"}
	cmd.AddCommand(NewCmdImport(f, nil), NewCmdList(f, nil), NewCmdPull(f, nil))
	return cmd
}
