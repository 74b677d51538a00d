package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
)

// InitOptions are the flags of `controller init`.
type InitOptions struct {
	IO        *cmdutil.IOStreams
	Home      func() (string, error)
	DataDir   string
	Listen    string
	Advertise []string
	Plaintext bool
	JSON      bool
	// KeysFrom is another controller's data directory (or a copy of its
	// shared key set) to join the same cluster with.
	KeysFrom string
}

// NewCmdInit is `foundry controller init`: make the keys, CA and server
// certificate without starting anything.
func NewCmdInit(f *cmdutil.Factory, runF func(context.Context, *InitOptions) error) *cobra.Command {
	opts := &InitOptions{IO: f.IO, Home: f.Home}
	cmd := &cobra.Command{
		Use:   "init [--data-dir DIR] [--advertise NAME,...] [--keys-from DIR]",
		Short: "Create the controller's signing key, CA, server certificate and admin credentials without starting it",
		Long: `Create what the controller needs before its first run, so it can be backed
up or inspected: the command-signing key, the CA and a server certificate
for the advertised names, the bootstrap admin's credentials and the route
secret controllers of one cluster authenticate each other with. Existing
files are kept; a server certificate that does not cover the names is
reissued. Secrets stay in the data directory (0600) and are never printed.

For a cluster, initialise the first controller, copy its shared key set
(ca.pem, ca.key, signing.key, signing-keys/, admin.nk, route.secret) to
each other machine, and there run init with --keys-from pointing at the
copy: the files are copied into the new data directory (never over
different ones) and the machine gets its own server certificate from the
shared CA for its own --advertise names.

  foundry controller init --advertise ctl-a.example.net
  # copy the shared key set to ctl-b, e.g. into /root/foundry-keys (0700)
  foundry controller init --advertise ctl-b.example.net --keys-from /root/foundry-keys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return initRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "keys, CA and JetStream store (default <home>/controller)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:4222", "the address `controller run` will listen on (chooses default --advertise)")
	cmd.Flags().StringSliceVar(&opts.Advertise, "advertise", nil, "names or addresses agents use to reach this controller (go into the TLS certificate)")
	cmd.Flags().BoolVar(&opts.Plaintext, "insecure-plaintext", false, "make no CA or certificate (local development only)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&opts.KeysFrom, "keys-from", "", "join a cluster: copy the shared key set from this directory (another controller's data directory or a copy of it)")
	return cmd
}

func initRun(o *InitOptions) error {
	if o.DataDir == "" {
		home, err := o.Home()
		if err != nil {
			return fmt.Errorf("find home directory: %w; pass --data-dir", err)
		}
		o.DataDir = filepath.Join(home, "controller")
	}
	var copied []string
	if o.KeysFrom != "" {
		if o.Plaintext {
			return cmdutil.FlagErrorf("--keys-from and --insecure-plaintext do not go together: controllers of a cluster use TLS")
		}
		var err error
		if copied, err = controller.CopySharedKeys(o.KeysFrom, o.DataDir); err != nil {
			return fmt.Errorf("copy the shared key set: %w", err)
		}
	}
	res, err := controller.Init(controller.InitOptions{DataDir: o.DataDir, Listen: o.Listen, Advertise: o.Advertise, Plaintext: o.Plaintext})
	if err != nil {
		return fmt.Errorf("initialize controller: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, struct {
			controller.InitResult
			Copied []string `json:"copied,omitempty"`
		}{res, copied})
	}
	t := cmdutil.NewTable(o.IO, "FIELD", "VALUE")
	t.Row("data dir", res.DataDir)
	t.Row("signing key", res.SigningKey)
	t.Row("admin key", res.AdminKey)
	t.Row("admin creds", res.AdminCreds)
	t.Row("route secret", res.RouteSecret)
	if o.KeysFrom != "" {
		t.Row("copied from", o.KeysFrom)
		t.Row("copied", strings.Join(copied, ","))
	}
	if res.CAFile != "" {
		t.Row("ca", res.CAFile)
		t.Row("cert names", strings.Join(res.Names, ","))
		t.Row("cert serial", res.CertSerial)
		t.Row("cert expires", time.UnixMilli(res.CertExpires).UTC().Format(time.RFC3339))
	}
	return t.Render()
}
