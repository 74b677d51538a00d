package secret

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// SetOptions are the inputs of `secret set`. There is deliberately no
// field for the value from the command line.
type SetOptions struct {
	IO  *cmdutil.IOStreams
	Ctx context.Context
	Bao func() (*secrets.BaoClient, error)

	Path string
	Key  string
}

// NewCmdSet is `foundry secret set`: store one key of a secret in OpenBAO,
// reading the value from a hidden prompt or stdin, never from argv (where
// shell history and process listings would keep it).
func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	d := newDeps(f)
	opts := &SetOptions{IO: f.IO, Bao: d.bao}
	cmd := &cobra.Command{
		Use:   "set <path> --key KEY",
		Short: "Store a secret value in OpenBAO (value from prompt or stdin)",
		Long: `Store one key of a secret in OpenBAO. Other keys of the secret are kept.

The value is read from a hidden prompt on a terminal, or from the first line
of stdin. It is never taken as an argument.`,
		Example: `  foundry secret set foundry/grafana --key admin_password
  pass show grafana | foundry secret set foundry/grafana --key admin_password
  foundry secret set foundry/truenas:api_key`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return cmdutil.FlagErrorf("give the secret path, e.g. foundry secret set foundry/grafana --key admin_password")
			case len(args) > 1:
				return cmdutil.FlagErrorf("secret values are never taken as arguments (shell history and process listings would keep them); run `foundry secret set %s --key KEY` and type the value at the prompt, or pipe it on stdin", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var key string
			if err := parseTarget(args[0], &opts.Path, &key); err != nil {
				return err
			}
			switch {
			case key != "" && opts.Key != "" && key != opts.Key:
				return cmdutil.FlagErrorf("the key is given twice (%s and --key %s); give it once", key, opts.Key)
			case key != "":
				opts.Key = key
			case opts.Key == "":
				return cmdutil.FlagErrorf("--key is required: which key of %s to set", opts.Path)
			}
			if _, err := secrets.ParsePathKey(opts.Path + ":" + opts.Key); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return setRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Key, "key", "k", "", "key within the secret to set")
	return cmd
}

func setRun(o *SetOptions) error {
	bao, err := o.Bao()
	if err != nil {
		return err
	}
	value, err := o.IO.ReadSecret(fmt.Sprintf("Value for %s:%s (input hidden): ", o.Path, o.Key))
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("no value given: type it at the prompt or pipe it on stdin")
	}
	if err != nil {
		return fmt.Errorf("read the value: %w", err)
	}
	if len(value) == 0 {
		return errors.New("the value is empty; nothing was stored")
	}
	version, err := bao.SetKey(ctxOf(o.Ctx), o.Path, o.Key, string(value))
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Stored %s:%s in OpenBAO at %s (version %d).\n", o.Path, o.Key, bao.Address(), version)
	return nil
}
