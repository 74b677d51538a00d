// Package image is `foundry image`: container images saved on a machine
// with internet (crane pull --format=oci, docker save) pushed into the
// stack's registry, so an air-gapped site can run the stack.
package image

import (
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

// NewCmdImage is the `image` noun.
func NewCmdImage(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "image <verb>", Short: "Fill the stack's registry with container images for an air-gapped site"}
	cmd.AddCommand(NewCmdImport(f, nil))
	return cmd
}
