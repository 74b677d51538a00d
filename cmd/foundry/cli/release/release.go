// Package release holds the `foundry release` verbs: checking a downloaded
// Foundry release before installing it. It needs no controller.
package release

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	rel "github.com/foundry-fleet/foundry/packaging/release"
)

// NewCmdRelease is the `release` noun.
func NewCmdRelease(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "release <verb>", Short: "Check Foundry's own release files"}
	cmd.AddCommand(NewCmdVerify(f))
	return cmd
}

// VerifyOptions are the inputs of `release verify`.
type VerifyOptions struct {
	IO   *cmdutil.IOStreams
	Dir  string
	Key  string
	JSON bool
}

// NewCmdVerify is `foundry release verify DIR --key PUB`.
func NewCmdVerify(f *cmdutil.Factory) *cobra.Command {
	opts := &VerifyOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "verify <dir> --key release.pub",
		Short: "Verify a release directory: SHA256SUMS signature and every file's hash",
		Long: `Verify a release directory made by 'make package': the Ed25519 signature
SHA256SUMS.sig over SHA256SUMS, with the release public key you obtained
separately (PEM), then the SHA-256 of every file SHA256SUMS names. Exits
non-zero, naming the file, on the first mismatch.

Without foundry, the same check is:
  openssl pkeyutl -verify -pubin -inkey release.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
  sha256sum -c SHA256SUMS`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Dir = args[0]
			if opts.Key == "" {
				return cmdutil.FlagErrorf("--key is required: the release public key (PEM)")
			}
			return RunVerify(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Key, "key", "", "release public key (PEM, Ed25519)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type verifyJSON struct {
	Dir      string   `json:"dir"`
	Verified []string `json:"verified"`
}

// RunVerify checks o.Dir against o.Key.
func RunVerify(o *VerifyOptions) error {
	pub, err := rel.LoadPublicKey(o.Key)
	if err != nil {
		return fmt.Errorf("read the release key: %w", err)
	}
	res, err := rel.Verify(o.Dir, pub)
	if err != nil {
		return fmt.Errorf("release not verified: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, verifyJSON{Dir: o.Dir, Verified: res.Verified})
	}
	for _, n := range res.Verified {
		fmt.Fprintf(o.IO.Out, "ok  %s\n", n)
	}
	_, err = fmt.Fprintf(o.IO.Out, "%d files verified: signature and SHA-256 match\n", len(res.Verified))
	return err
}
