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
	// Cluster flags; see controller.Options.
	Name             string
	Cluster          string
	ClusterName      string
	ClusterAdvertise string
	Routes           []string
	Replicas         int
	// HTTP is the web view's listen address; empty means off.
	HTTP string
	// Ready, when set, is called once the controller serves (tests).
	Ready func(*controller.Controller)
}

// NewCmdRun is `foundry controller run`.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{IO: f.IO, Home: f.Home, Version: f.Version}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the controller with embedded NATS and JetStream until interrupted",
		Long: `Run the controller: an embedded NATS server with JetStream, the fleet
registry, the fan-out engine and the operator API, until interrupted.

Several controllers form one NATS cluster with --cluster (the route listen
address) and --routes (every member's route URL; the same list on each,
this controller's own entry included, is fine). Routes are TLS with the
controller CA in both directions and authenticated with the route secret,
so every member needs the same shared key set: initialise one controller
and create the others with 'foundry controller init --keys-from'. Each
member needs its own --name, stable across restarts. The registry,
identities, events and audit are replicated --replicas times (default 3
when --routes names at least 3 servers), so the cluster keeps working
with one of three members down. Give agents every member's URL; enrolment
hands out the URLs of the members that are up.

Three controllers (run the matching line on each machine):

  foundry controller run --name ctl-a --listen 0.0.0.0:4222 --advertise ctl-a.example.net \
      --cluster 0.0.0.0:6222 --routes nats://ctl-a.example.net:6222,nats://ctl-b.example.net:6222,nats://ctl-c.example.net:6222
  foundry controller run --name ctl-b --listen 0.0.0.0:4222 --advertise ctl-b.example.net \
      --cluster 0.0.0.0:6222 --routes nats://ctl-a.example.net:6222,nats://ctl-b.example.net:6222,nats://ctl-c.example.net:6222
  foundry controller run --name ctl-c --listen 0.0.0.0:4222 --advertise ctl-c.example.net \
      --cluster 0.0.0.0:6222 --routes nats://ctl-a.example.net:6222,nats://ctl-b.example.net:6222,nats://ctl-c.example.net:6222

The host names in --routes must be names in each member's certificate:
its --advertise names, or the host of --cluster-advertise.`,
		Args: cobra.NoArgs,
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
	cmd.Flags().StringVar(&opts.Name, "name", "", "this controller's server name, unique in the cluster and stable across restarts (default: short hostname when clustered)")
	cmd.Flags().StringVar(&opts.Cluster, "cluster", "", "route listen address host:port that makes this controller a cluster member, e.g. 0.0.0.0:6222")
	cmd.Flags().StringVar(&opts.ClusterName, "cluster-name", controller.DefaultClusterName, "NATS cluster name, the same on every member")
	cmd.Flags().StringVar(&opts.ClusterAdvertise, "cluster-advertise", "", "host:port other members reach this one's routes at (default: first non-loopback --advertise name and the --cluster port)")
	cmd.Flags().StringSliceVar(&opts.Routes, "routes", nil, "route URLs of the cluster members, nats://host:6222,... (this member's own may be listed)")
	cmd.Flags().StringVar(&opts.HTTP, "http", "", "serve the read-only web view and /metrics on host:port, e.g. 127.0.0.1:8080 (off by default; see `controller web-login`)")
	cmd.Flags().IntVar(&opts.Replicas, "replicas", 0, "JetStream replicas of the registry, identities, events and audit (default: 3 with at least 3 servers in --routes, else 1)")
	return cmd
}

func runRun(ctx context.Context, o *RunOptions) error {
	if o.Replicas < 0 || o.Replicas > controller.MaxReplicas {
		return cmdutil.FlagErrorf("--replicas must be between 1 and %d", controller.MaxReplicas)
	}
	if len(o.Routes) > 0 && o.Cluster == "" {
		return cmdutil.FlagErrorf("--routes needs --cluster, the address this controller listens on for routes (e.g. 0.0.0.0:6222)")
	}
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
	copts := controller.Options{
		Listen: o.Listen, DataDir: o.DataDir, Advertise: o.Advertise, Plaintext: o.Plaintext,
		Version: o.Version, Logger: logger,
		Name: o.Name, Cluster: o.Cluster, ClusterName: o.ClusterName, ClusterAdvertise: o.ClusterAdvertise,
		Routes: o.Routes, Replicas: o.Replicas,
	}
	view, err := prepareWeb(o.HTTP, o.DataDir, logger, &copts)
	if err != nil {
		return err
	}
	c, err := controller.Start(ctx, copts)
	if err != nil {
		view.close()
		return fmt.Errorf("start controller: %w", err)
	}
	view.serve(ctx, c)
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
