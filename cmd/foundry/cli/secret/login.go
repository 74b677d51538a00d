package secret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// LoginOptions are the inputs of `secret login`.
type LoginOptions struct {
	IO  *cmdutil.IOStreams
	Ctx context.Context
	// Bao is OpenBAO without a token: login must work even when the stored
	// token is broken, since that is when it is needed.
	Bao    func() (*secrets.BaoClient, error)
	Tokens func() (*secrets.TokenStore, error)
}

// NewCmdLogin is `foundry secret login`: check an OpenBAO token and store
// it for later commands (OS keyring, else a 0600 file), saying where.
func NewCmdLogin(f *cmdutil.Factory, runF func(*LoginOptions) error) *cobra.Command {
	d := newDeps(f)
	opts := &LoginOptions{IO: f.IO, Bao: d.anon, Tokens: d.tokens}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Store the OpenBAO token Foundry uses",
		Long: `Read an OpenBAO token from a hidden prompt (or the first line of stdin),
check it with OpenBAO (auth/token/lookup-self), and store it in the OS
keyring, or in ~/.foundry/openbao-token (mode 0600) where there is none.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return loginRun(opts)
		},
	}
	return cmd
}

func loginRun(o *LoginOptions) error {
	anon, err := o.Bao()
	if err != nil {
		return err
	}
	raw, err := o.IO.ReadSecret(fmt.Sprintf("OpenBAO token for %s (input hidden): ", anon.Address()))
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("no token given: paste it at the prompt or pipe it on stdin")
	}
	if err != nil {
		return fmt.Errorf("read the token: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return errors.New("the token is empty; nothing was stored")
	}
	c, err := anon.WithToken(token)
	if err != nil {
		return err
	}
	info, err := c.LookupSelf(ctxOf(o.Ctx))
	if err != nil {
		return err
	}
	st, err := o.Tokens()
	if err != nil {
		return err
	}
	backend, err := st.Save(token)
	if err != nil {
		return err
	}
	who := info.DisplayName
	if who == "" {
		who = "token " + info.Accessor
	}
	fmt.Fprintf(o.IO.ErrOut, "Logged in to OpenBAO at %s as %s (policies: %s).\n", c.Address(), who, strings.Join(info.Policies, ", "))
	fmt.Fprintf(o.IO.ErrOut, "Token stored in %s.\n", backend)
	return nil
}
