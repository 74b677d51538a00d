package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// checkRefs looks every secret reference up without keeping a value.
func checkRefs(o *ValidateOptions, f *stackconfig.File) ([]stackconfig.RefCheck, stackconfig.Problems, error) {
	ctx := o.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r, err := o.Resolver(ctx, &f.Config)
	if err != nil {
		return nil, nil, err
	}
	refs, ps := f.CheckRefs(ctx, r)
	return refs, ps, nil
}

// printRefs lists which source answers each reference; the unresolved
// are already among the warnings.
func printRefs(io *cmdutil.IOStreams, refs []stackconfig.RefCheck) {
	if len(refs) == 0 {
		return
	}
	fmt.Fprintln(io.Out, "secret references:")
	for _, r := range refs {
		src := r.Source
		if src == "" {
			src = "unresolved"
		}
		fmt.Fprintf(io.Out, "  %s (line %d) %s: %s\n", r.Field, r.Line, r.Ref, src)
	}
}

// DefaultResolver is the chain every command resolves with: environment,
// ~/.foundryvars, then the OpenBAO the config names, with Foundry's token
// (BAO_TOKEN, else the token store). Without an OpenBAO address that
// source is left out and says nothing.
func DefaultResolver(f *cmdutil.Factory) func(context.Context, *stackconfig.Config) (*secrets.Resolver, error) {
	return func(_ context.Context, cfg *stackconfig.Config) (*secrets.Resolver, error) {
		srcs := []secrets.Source{secrets.EnvSource{}}
		if p, err := secrets.DefaultVarsPath(); err == nil {
			srcs = append(srcs, &secrets.VarsSource{Path: p})
		}
		if addr := cfg.OpenBAOAddress(); addr != "" {
			tok := os.Getenv("BAO_TOKEN")
			if tok == "" {
				home, err := f.Home()
				if err != nil {
					return nil, err
				}
				t, _, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Load()
				if err != nil && !errors.Is(err, secrets.ErrNoToken) {
					return nil, err
				}
				tok = t
			}
			// A short timeout: validate must stay quick when OpenBAO is away.
			c, err := secrets.NewBaoClient(secrets.BaoOptions{Address: addr, Mount: cfg.OpenBAOMount(), Token: tok, Timeout: 3 * time.Second,
				CACert: clicomp.OpenBAOCAFile(clicomp.NewEnv(f))})
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, secrets.BaoSource{Client: c})
		}
		return &secrets.Resolver{Sources: srcs}, nil
	}
}
