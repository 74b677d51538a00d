package cmdutil

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/packaging/buildinfo"
)

// Factory carries what verbs depend on, as lazy funcs so a test can swap
// any of them without dialing anything.
type Factory struct {
	IO      *IOStreams
	Logger  *slog.Logger
	Version string
	// Build is the full description of this build (foundry version).
	Build buildinfo.Info

	// Home is Foundry's directory (~/.foundry, or $FOUNDRY_HOME).
	Home func() (string, error)
	// ConfigPath is the --config flag's value ("" when not given).
	ConfigPath func() string
	// Conn holds the controller connection flags; Connect dials with them.
	Conn ConnFlags
	// Connect dials the controller with Conn. Set by the root command.
	Connect func(ctx context.Context) (*client.Client, error)
}

// ConnFlags are the global flags that say how to reach the controller.
type ConnFlags struct {
	URL   string
	Creds string
	CA    string
}

// DefaultHome resolves Foundry's home directory: $FOUNDRY_HOME, else
// ~/.foundry.
func DefaultHome() (string, error) {
	if h := os.Getenv("FOUNDRY_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(u, ".foundry"), nil
}
