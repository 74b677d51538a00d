// Package secret is the `foundry secret` noun: read, write and list
// secrets in OpenBAO, and log Foundry in to OpenBAO. Paths are full,
// namespaced paths (foundry/grafana, myservice-stable/database/prod).
package secret

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// NewCmdSecret is `foundry secret`.
func NewCmdSecret(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret <verb>",
		Short: "Read, write and list secrets in OpenBAO",
		Long: `Read, write and list secrets in OpenBAO's KV v2 engine.

Paths are full namespaced paths such as foundry/grafana or
myservice-stable/database/prod; a single value is path:key. OpenBAO's
address comes from the stack config (foundry.openbao.address), else
BAO_ADDR or VAULT_ADDR. The token comes from BAO_TOKEN or VAULT_TOKEN, else
from 'foundry secret login' (OS keyring, or ~/.foundry/openbao-token).`,
	}
	cmd.AddCommand(
		NewCmdGet(f, nil),
		NewCmdSet(f, nil),
		NewCmdList(f, nil),
		NewCmdLogin(f, nil),
	)
	return cmd
}

// errNoAddress means nothing says where OpenBAO is.
var errNoAddress = errors.New("no OpenBAO address: set foundry.openbao.address in the stack config or BAO_ADDR")

// deps turns the factory into the lazy dependencies the verbs hold, so
// tests can replace any of them.
type deps struct {
	io         *cmdutil.IOStreams
	home       func() (string, error)
	configPath func() string
	getenv     func(string) string
	lookupEnv  func(string) (string, bool)
	keyring    secrets.Keyring
	// caFile is the CA OpenBAO's certificate is checked with (Foundry's
	// own, for the OpenBAO Foundry installs); "" uses the system roots.
	caFile func() string
}

func newDeps(f *cmdutil.Factory) *deps {
	cp := f.ConfigPath
	if cp == nil {
		cp = func() string { return "" }
	}
	d := &deps{io: f.IO, home: f.Home, configPath: cp, getenv: os.Getenv, lookupEnv: os.LookupEnv, keyring: secrets.SystemKeyring()}
	d.caFile = func() string { return clicomp.OpenBAOCAFile(clicomp.NewEnv(f)) }
	return d
}

// address finds OpenBAO: the stack config's foundry.openbao.address (or
// its OpenBAO host), else BAO_ADDR / VAULT_ADDR. A config that cannot be
// chosen (several, none selected) is an error only if the environment
// does not say either.
func (d *deps) address() (addr, mount string, err error) {
	home, err := d.home()
	if err != nil {
		return "", "", err
	}
	explicit := d.configPath() != "" || d.getenv(stackconfig.EnvConfig) != ""
	path, serr := stackconfig.Select(d.configPath(), d.getenv(stackconfig.EnvConfig), home)
	if serr == nil {
		f, lerr := stackconfig.Load(path)
		switch {
		case lerr == nil && f.Config.OpenBAOAddress() != "":
			return f.Config.OpenBAOAddress(), f.Config.OpenBAOMount(), nil
		case lerr != nil && (explicit || !errors.Is(lerr, stackconfig.ErrNoConfig)):
			return "", "", fmt.Errorf("read OpenBAO address from %s: %w", path, lerr)
		}
	}
	env := d.getenv("BAO_ADDR")
	if env == "" {
		env = d.getenv("VAULT_ADDR")
	}
	if env != "" {
		return env, secrets.DefaultMount, nil
	}
	if errors.Is(serr, stackconfig.ErrAmbiguousConfig) {
		return "", "", serr
	}
	return "", "", errNoAddress
}

// tokens is Foundry's own OpenBAO token store.
func (d *deps) tokens() (*secrets.TokenStore, error) {
	home, err := d.home()
	if err != nil {
		return nil, err
	}
	return &secrets.TokenStore{Dir: home, Keyring: d.keyring}, nil
}

// anon is a client for OpenBAO without a token (login checks a new one).
func (d *deps) anon() (*secrets.BaoClient, error) {
	addr, mount, err := d.address()
	if err != nil {
		return nil, err
	}
	ca := ""
	if d.caFile != nil {
		ca = d.caFile()
	}
	return secrets.NewBaoClient(secrets.BaoOptions{Address: addr, Mount: mount, CACert: ca})
}

// bao is a client with the token from BAO_TOKEN / VAULT_TOKEN or the
// store. No token at all still gives a client; its first request says
// "run foundry secret login".
func (d *deps) bao() (*secrets.BaoClient, error) {
	c, err := d.anon()
	if err != nil {
		return nil, err
	}
	tok := d.getenv("BAO_TOKEN")
	if tok == "" {
		tok = d.getenv("VAULT_TOKEN")
	}
	if tok == "" {
		st, err := d.tokens()
		if err != nil {
			return nil, err
		}
		t, _, err := st.Load()
		switch {
		case errors.Is(err, secrets.ErrNoToken):
			return c, nil
		case err != nil:
			return nil, err
		}
		tok = t
	}
	return c.WithToken(tok)
}

// varsPath is ~/.foundryvars.
func (d *deps) varsPath() (string, error) { return secrets.DefaultVarsPath() }

func ctxOf(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
