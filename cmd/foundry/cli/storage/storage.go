// Package storage is the `foundry storage` noun: configure, list and test
// the TrueNAS that Foundry uses but does not install (the seed's "assumed
// pre-existing" storage). It talks to TrueNAS's REST API straight from
// this machine; the controller and the agents are not involved.
package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	configcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/config"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/truenas"
)

// DefaultAPIKeyRef is where `storage configure` points api_key unless told
// otherwise (the seed's own example).
const DefaultAPIKeyRef = "${secret:foundry/truenas:api_key}"

// requestTimeout bounds each TrueNAS request.
const requestTimeout = 15 * time.Second

// NewCmdStorage is `foundry storage`.
func NewCmdStorage(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage <verb>",
		Short: "Configure, list and test the TrueNAS storage the stack uses",
		Long: `Configure, list and test TrueNAS, the storage Foundry uses but does not
install. Settings live in the stack config under storage.truenas; the API
key is a ${secret:...} reference resolved like every other secret
(environment, ~/.foundryvars, OpenBAO) and never written down or shown.`,
	}
	cmd.AddCommand(NewCmdConfigure(f, nil), NewCmdList(f, nil), NewCmdTest(f, nil))
	return cmd
}

// Deps are what the verbs need from the CLI, as funcs a test can replace.
type Deps struct {
	// ConfigPath is the selected stack config's path.
	ConfigPath func() (string, error)
	// Resolver resolves the API key reference (see configcmd.DefaultResolver).
	Resolver func(ctx context.Context, cfg *stackconfig.Config) (*secrets.Resolver, error)
}

func newDeps(f *cmdutil.Factory) Deps {
	cp := f.ConfigPath
	if cp == nil {
		cp = func() string { return "" }
	}
	return Deps{
		ConfigPath: func() (string, error) {
			home, err := f.Home()
			if err != nil {
				return "", err
			}
			return stackconfig.Select(cp(), os.Getenv(stackconfig.EnvConfig), home)
		},
		Resolver: configcmd.DefaultResolver(f),
	}
}

// errNotConfigured says what to run when the config has no TrueNAS.
var errNotConfigured = errors.New("storage.truenas is not configured; run foundry storage configure")

// loadTrueNAS reads the config and its storage.truenas section.
func (d Deps) loadTrueNAS() (*stackconfig.File, *stackconfig.TrueNAS, error) {
	path, err := d.ConfigPath()
	if err != nil {
		return nil, nil, err
	}
	f, err := stackconfig.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if f.Config.Storage == nil || f.Config.Storage.TrueNAS == nil {
		return f, nil, fmt.Errorf("%w (in %s)", errNotConfigured, path)
	}
	return f, f.Config.Storage.TrueNAS, nil
}

// keySource is where the API key came from, for messages (never the key).
type keySource struct {
	Ref    string `json:"ref"`
	Source string `json:"source"`
}

// client resolves the API key and builds a client. The key stays in
// memory: it is passed to the client and nowhere else.
func (d Deps) client(ctx context.Context, cfg *stackconfig.Config, t stackconfig.TrueNAS) (*truenas.Client, keySource, error) {
	ref, err := secrets.ParseRef(t.APIKey)
	if err != nil {
		return nil, keySource{}, fmt.Errorf("storage.truenas.api_key must be a secret reference such as %s, not a value: %w", DefaultAPIKeyRef, err)
	}
	r, err := d.Resolver(ctx, cfg)
	if err != nil {
		return nil, keySource{}, fmt.Errorf("set up secret resolution: %w", err)
	}
	res, err := r.ResolveFrom(ctx, ref)
	if err != nil {
		return nil, keySource{Ref: ref.String()}, fmt.Errorf("resolve the TrueNAS API key: %w", err)
	}
	c, err := truenas.New(truenas.Options{URL: t.APIURL, APIKey: res.Value, CAFile: t.CAFile, Timeout: requestTimeout})
	if err != nil {
		return nil, keySource{}, err
	}
	return c, keySource{Ref: ref.String(), Source: res.Source}, nil
}

// printSteps writes a check's steps as a table: step, result, reason.
func printSteps(io *cmdutil.IOStreams, steps []truenas.Step) error {
	t := cmdutil.NewTable(io, "STEP", "RESULT", "REASON")
	for _, s := range steps {
		t.Row(s.Name, s.Status, s.Reason)
	}
	return t.Render()
}

// firstFailure is the first failed step, for the one-line error.
func firstFailure(steps []truenas.Step) truenas.Step {
	for _, s := range steps {
		if s.Status == truenas.StatusFail {
			return s
		}
	}
	return truenas.Step{}
}
