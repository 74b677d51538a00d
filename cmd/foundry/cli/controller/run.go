package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
)

// RunOptions are the flags of `controller run`.
type RunOptions struct {
	IO        *cmdutil.IOStreams
	Home      func() (string, error)
	Version   string
	Listen    string
	DataDir   string
	Advertise []string
	Plaintext bool
	LogLevel  string
	// Ready, when set, is called once the controller serves (tests).
	Ready func(*controller.Controller)
}

// NewCmdRun is `foundry controller run`.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{IO: f.IO, Home: f.Home, Version: f.Version}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the controller with embedded NATS and JetStream until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:4222", "NATS client address host:port")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "keys, CA and JetStream store (default <home>/controller)")
	cmd.Flags().StringSliceVar(&opts.Advertise, "advertise", nil, "names or addresses agents use to reach this controller (go into the TLS certificate)")
	cmd.Flags().BoolVar(&opts.Plaintext, "insecure-plaintext", false, "disable TLS (local development only)")
	cmd.Flags().StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runRun(ctx context.Context, o *RunOptions) error {
	if o.DataDir == "" {
		home, err := o.Home()
		if err != nil {
			return fmt.Errorf("find home directory: %w; pass --data-dir", err)
		}
		o.DataDir = filepath.Join(home, "controller")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return cmdutil.FlagErrorf("--log-level %q must be debug, info, warn or error", o.LogLevel)
	}
	logger := newLogger(o.IO.ErrOut, lv)
	c, err := controller.Start(ctx, controller.Options{
		Listen: o.Listen, DataDir: o.DataDir, Advertise: o.Advertise, Plaintext: o.Plaintext,
		Version: o.Version, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("start controller: %w", err)
	}
	if o.Ready != nil {
		o.Ready(c)
	}
	return c.Wait(ctx)
}

// newLogger writes JSON unless stderr is a terminal.
func newLogger(w io.Writer, lv slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
