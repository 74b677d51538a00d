package rbac

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// CreateOptions are the flags of `rbac operator create`.
type CreateOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Name    string
	Role    string
	Out     string
	JSON    bool
}

// NewCmdCreate is `foundry rbac operator create <name> --role ROLE --out FILE`.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "create <name> --role admin|read-only --out FILE",
		Short: "Create an operator and write its credentials (once) to a file",
		Long: `Create an operator with a role. The operator's key pair is made here and
only its public key is sent to the controller. The seed (the operator's
credentials, for --creds) is written 0600 to --out FILE, which must not
exist yet. --out - writes it to stdout instead, for a pipe into a secret
store; that is refused when stdout is a terminal. The seed is shown
nowhere else and cannot be recovered: lose it and create a new operator.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := messages.ValidOperatorName(opts.Name); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if err := messages.ValidRole(opts.Role); err != nil {
				return cmdutil.FlagErrorf("--role must be admin or read-only")
			}
			if opts.Out == "" {
				return cmdutil.FlagErrorf("--out is required: name the file for the operator's credentials (or - for stdout)")
			}
			if opts.Out == "-" && opts.JSON {
				return cmdutil.FlagErrorf("--json cannot be combined with --out -, which uses stdout for the credentials")
			}
			if opts.Out == "-" && opts.IO.IsStdoutTTY() {
				return cmdutil.FlagErrorf("refusing to print credentials to a terminal; pass --out FILE, or redirect stdout")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return createRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Role, "role", "", "admin or read-only")
	cmd.Flags().StringVar(&opts.Out, "out", "", "file to create (0600) with the operator's credentials, or - for stdout")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the operator as JSON")
	return cmd
}

func createRun(ctx context.Context, o *CreateOptions) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	defer wipe(seed)

	// The file is created before the controller knows the key, so a
	// failure here leaves nothing behind on the controller.
	if o.Out != "-" {
		if err := writeNew(o.Out, seed); err != nil {
			return err
		}
	}
	cl, err := o.Connect(ctx)
	if err == nil {
		defer cl.Close()
		var info messages.OperatorInfo
		info, err = cl.CreateOperator(ctx, messages.OperatorCreateRequest{Name: o.Name, Role: o.Role, PublicKey: pub})
		if err == nil {
			return report(o, info, seed)
		}
	}
	if o.Out != "-" {
		_ = os.Remove(o.Out)
	}
	return fmt.Errorf("create operator %s: %w", o.Name, err)
}

func report(o *CreateOptions, info messages.OperatorInfo, seed []byte) error {
	if o.Out == "-" {
		if _, err := fmt.Fprintf(o.IO.Out, "%s\n", seed); err != nil {
			return fmt.Errorf("operator %s was created but its credentials could not be written (%v); revoke it with foundry rbac operator revoke %s", o.Name, err, o.Name)
		}
		fmt.Fprintf(o.IO.ErrOut, "Created operator %s (%s); its credentials went to stdout.\n", info.Name, info.Role)
		return nil
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, struct {
			messages.OperatorInfo
			CredsFile string `json:"creds_file"`
		}{info, o.Out})
	}
	if !o.IO.IsStdoutTTY() {
		_, err := fmt.Fprintln(o.IO.Out, strings.Join([]string{info.Name, info.Role, info.PublicKey, o.Out}, "\t"))
		return err
	}
	_, err := fmt.Fprintf(o.IO.Out, "Created operator %s (%s) with key %s.\nIts credentials are in %s; pass them with --creds. They are not stored anywhere else.\n",
		info.Name, info.Role, info.PublicKey, o.Out)
	return err
}

// writeNew creates path 0600 with the seed, refusing to replace a file.
func writeNew(path string, seed []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; choose another --out file (credentials are never overwritten)", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(append(seed, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
