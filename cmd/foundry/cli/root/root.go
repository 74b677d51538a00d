// Package root assembles the foundry command tree and maps errors to exit
// codes in one place.
package root

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	artifactcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/artifact"
	auditcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/audit"
	clustercmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/cluster"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	componentcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	configcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/config"
	controllercmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/controller"
	eventscmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/events"
	fleetcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/fleet"
	hostcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/host"
	jobcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/job"
	rbaccmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/rbac"
	releasecmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/release"
	secretcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/secret"
	stackcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/stack"
	storagecmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/storage"
	versioncmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/version"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/packaging/buildinfo"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitUsage   = 2
	ExitPartial = 3 // some hosts did not answer or failed
)

// NewCmdRoot builds the command tree around f.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:           "foundry <noun> <verb>",
		Short:         "Set up and run a self-hosted stack on a fleet of hosts",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       f.Build.String(),
	}
	cmd.SetVersionTemplate("foundry {{.Version}}\n")
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.Conn.URL, "controller", os.Getenv("FOUNDRY_CONTROLLER"), "controller URL (default $FOUNDRY_CONTROLLER, else the URLs the controller wrote to <home>/controller/urls, else tls://127.0.0.1:4222)")
	pf.StringVar(&f.Conn.Creds, "creds", os.Getenv("FOUNDRY_CREDS"), "operator NKey seed file (default <home>/controller/admin.nk, or $FOUNDRY_CREDS)")
	pf.StringVar(&f.Conn.CA, "ca", os.Getenv("FOUNDRY_CA"), "controller CA certificate (default <home>/controller/ca.pem, or $FOUNDRY_CA)")
	pf.StringVar(&configPath, "config", "", "stack config file (beats $FOUNDRY_CONFIG)")
	f.ConfigPath = func() string { return configPath }
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })

	cmd.AddCommand(
		controllercmd.NewCmdController(f),
		hostcmd.NewCmdHost(f),
		fleetcmd.NewCmdFleet(f),
		eventscmd.NewCmdEvents(f),
		configcmd.NewCmdConfig(f),
		secretcmd.NewCmdSecret(f),
		rbaccmd.NewCmdRbac(f),
		auditcmd.NewCmdAudit(f),
		jobcmd.NewCmdJob(f),
		artifactcmd.NewCmdArtifact(f),
		componentcmd.NewCmdComponent(f),
		stackcmd.NewCmdStack(f),
		storagecmd.NewCmdStorage(f),
		clustercmd.NewCmdCluster(f),
		releasecmd.NewCmdRelease(f),
		versioncmd.NewCmdVersion(f),
	)
	return cmd
}

// NewFactory wires the real dependencies.
func NewFactory(io *cmdutil.IOStreams, logger *slog.Logger, version string) *cmdutil.Factory {
	f := &cmdutil.Factory{IO: io, Logger: logger, Version: version, Home: cmdutil.DefaultHome,
		Build: buildinfo.Read(version, "")}
	f.ConfigPath = func() string { return "" }
	f.Connect = func(ctx context.Context) (*client.Client, error) {
		home, err := f.Home()
		if err != nil {
			return nil, err
		}
		data := filepath.Join(home, "controller")
		o := client.Options{URL: f.Conn.URL, CredsFile: f.Conn.Creds, CAFile: f.Conn.CA}
		if o.URL == "" {
			o.URL = controller.ReadLocalURLs(data)
		}
		if o.URL == "" {
			o.URL = "tls://127.0.0.1:4222"
		}
		if o.CredsFile == "" {
			o.CredsFile = filepath.Join(data, controller.AdminCredsFile)
		}
		if o.CAFile == "" {
			if _, err := os.Stat(filepath.Join(data, pki.CAFile)); err == nil {
				o.CAFile = filepath.Join(data, pki.CAFile)
			}
		}
		return client.Connect(ctx, o)
	}
	return f
}

// Main runs the CLI and returns the process exit code. build says which
// build this is (see packaging/buildinfo).
func Main(ctx context.Context, build buildinfo.Info, args []string) int {
	io := cmdutil.System()
	logger := slog.New(slog.NewTextHandler(io.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := NewFactory(io, logger, build.Version)
	f.Build = build
	return Run(ctx, f, args)
}

// Run executes one command line against f and returns the exit code; tests
// call it with fake IO.
func Run(ctx context.Context, f *cmdutil.Factory, args []string) int {
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	return exitCode(f.IO, cmd.ExecuteContext(ctx))
}

func exitCode(io *cmdutil.IOStreams, err error) int {
	var flagErr *cmdutil.FlagError
	var codeErr *cmdutil.ExitCodeError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, cmdutil.ErrCancelled):
		fmt.Fprintln(io.ErrOut, "Cancelled.")
		return ExitError
	case errors.As(err, &flagErr):
		fmt.Fprintln(io.ErrOut, "Error:", err)
		fmt.Fprintln(io.ErrOut, "Run 'foundry --help' or add --help to the command for usage.")
		return ExitUsage
	case errors.As(err, &codeErr):
		if codeErr.Err != nil && !errors.Is(codeErr.Err, cmdutil.ErrSilent) {
			fmt.Fprintln(io.ErrOut, "Error:", codeErr.Err)
		}
		return codeErr.Code
	case errors.Is(err, cmdutil.ErrSilent):
		return ExitError
	}
	fmt.Fprintln(io.ErrOut, "Error:", err)
	return ExitError
}
