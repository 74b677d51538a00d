package component

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

// Env is what component and stack verbs need from the CLI; tests build
// one with fake IO and a real controller connection.
type Env struct {
	IO         *cmdutil.IOStreams
	Connect    func(ctx context.Context) (*client.Client, error)
	Home       func() (string, error)
	ConfigPath func() string
	Getenv     func(string) string
	// Cluster serves the components Helm installs; see ClusterEnv.
	Cluster ClusterEnv
	// CAFile is Foundry's CA as this CLI knows it ("" when only the
	// controller can say), for services whose certificates it signs.
	CAFile func() string
	// Log takes what is worth logging but not printing (nil: nothing).
	Log *slog.Logger
}

// NewEnv takes the factory's dependencies.
func NewEnv(f *cmdutil.Factory) Env {
	cp := f.ConfigPath
	if cp == nil {
		cp = func() string { return "" }
	}
	return Env{IO: f.IO, Connect: f.Connect, Home: f.Home, ConfigPath: cp, Getenv: os.Getenv, CAFile: f.FoundryCA, Log: f.Logger}
}

// Stack loads the selected stack config and refuses one with errors: a
// component installed from a broken config is worse than none.
func (e Env) Stack() (*stackconfig.Config, error) {
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	sel, err := stackconfig.SelectWithReason(e.ConfigPath(), e.Getenv(stackconfig.EnvConfig), home)
	if err != nil {
		return nil, err
	}
	f, err := stackconfig.Load(sel.Path)
	if err != nil {
		return nil, err
	}
	if errs := f.Validate().Errors(); len(errs) > 0 {
		return nil, fmt.Errorf("stack config %s has %d error(s), first: %s; run foundry config validate", sel.Path, len(errs), errs[0].Message)
	}
	return &f.Config, nil
}

func (e Env) caFile() string {
	if e.CAFile == nil {
		return ""
	}
	return e.CAFile()
}
