// Command foundry-agent is the small daemon systemd runs on every managed
// host. See package agent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/nats-io/nkeys"
	"golang.org/x/term"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/facts"
	"github.com/foundry-fleet/foundry/agent/selfupdate"
	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "foundry-agent:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  foundry-agent run [--config /etc/foundry/agent.yaml]   run the agent
  foundry-agent keygen --out FILE                        create the agent's NATS key (0600), print its public key
  foundry-agent version                                  print the version
  foundry-agent simulate --count N (--dir DIR | --enroll ...)  run N simulated agents (load tests; see simulate --help)
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		cfgPath := fs.String("config", agent.DefaultConfigPath, "config file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return runAgent(ctx, *cfgPath, stderr)
	case "keygen":
		fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
		out := fs.String("out", "/etc/foundry/agent.nk", "seed file to create")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		pub, err := keygen(*out)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, pub)
		return nil
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "simulate":
		return runSimulate(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runAgent(ctx context.Context, cfgPath string, stderr io.Writer) error {
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel)
	notify, wd := agent.Systemd()
	fc := facts.New(ctx, version)
	opts := agent.Options{
		Config: cfg, ConfigPath: cfgPath, Logger: logger, Version: version,
		Facts: fc.Collect, Notify: notify, WatchdogInterval: wd,
		// systemd's StateDirectory= (/var/lib/foundry); a foreground run
		// without it keeps events and accepted commands in memory.
		StateDir: firstDir(os.Getenv("STATE_DIRECTORY")),
	}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		// Only an agent systemd runs was installed by foundry and may
		// remove itself; a foreground run (the demo) never deletes files.
		opts.Uninstall = agent.SystemdUninstall(agent.Removal{Script: agentunit.RemovalScript,
			RunArgs: agentunit.RemovalRunArgs(), StopArgs: agentunit.StopRunArgs(),
			RemovedPrefix: agentunit.Removed, KeyPrefix: agentunit.KeyRemoved})
		// ...and only such an agent installs host services.
		opts.Services = agent.HostServices(logger)
		// ...and replaces its own binary (foundry agent upgrade).
		opts.SelfUpdate = selfUpdate(logger)
	}
	a, err := agent.New(opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// selfUpdate is the real self-updater: the running executable, the
// unit files the bootstrap and the package install, the host's artifact
// store and trusted keys.
func selfUpdate(logger *slog.Logger) func(service.Dialer, *messages.Verifier) agent.SelfUpdater {
	return func(dial service.Dialer, trust *messages.Verifier) agent.SelfUpdater {
		bin, err := os.Executable()
		if err == nil {
			bin, err = filepath.EvalSymlinks(bin)
		}
		if err != nil {
			bin = agentunit.DefaultBinary
		}
		return selfupdate.New(selfupdate.Options{Logger: logger, Binary: bin, Source: service.ObjectStore{Dial: dial}, Verifier: trust,
			Arch: runtime.GOARCH, UnitFiles: []string{agentunit.LegacyUnitPath, agentunit.UnitPath}})
	}
}

// keygen creates the NATS identity seed if it does not exist and prints the
// public key. Re-running it returns the same key, so bootstrap can retry.
func keygen(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return "", fmt.Errorf("%s exists but is not an NKey seed; remove it to create a new key", path)
		}
		return kp.PublicKey()
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, _ := kp.Seed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(append(seed, '\n')); err == nil {
		err = f.Sync() // a rekey renames it into place next: it must be on disk
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// newLogger writes JSON when stderr is not a terminal (the journal, files)
// and text for a human at a terminal.
func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(orDefault(level, "info")))
	opts := &slog.HandlerOptions{Level: lv}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// firstDir is the first of systemd's colon-separated directories.
func firstDir(s string) string {
	d, _, _ := strings.Cut(s, ":")
	return d
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
