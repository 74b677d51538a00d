// Command agent-noconnect is a DELIBERATELY BROKEN foundry-agent build,
// a stand-in for a release that starts and stays up but never reaches
// its controller (a bad default URL, a broken TLS stack). It is the
// real agent (package agent, with systemd's READY=1 and watchdog), run
// with its configuration's controller URLs replaced by one where
// nothing listens, so from systemd's side it is a healthy, active
// service. The agent-upgrade e2e test installs it as a new version to
// show that only the upgrade's deadline, not a crash, sends such a host
// back to its previous agent. It must never be shipped.
//
//	agent-noconnect version                    # the -X main.version it was built with
//	agent-noconnect run --config FILE          # like foundry-agent run, never connects
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/facts"
)

// version is the agent version this build claims (-X main.version=V), so
// it passes the upgrade's self-check.
var version = "dev"

// nowhere is a loopback port nothing listens on: the test hosts only
// talk to loopback and the e2e bridge.
const nowhere = "tls://127.0.0.1:9"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent-noconnect:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: agent-noconnect version | run --config FILE")
	}
	switch args[0] {
	case "version":
		fmt.Println(version)
		return nil
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		cfgPath := fs.String("config", agent.DefaultConfigPath, "config file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg, err := agent.LoadConfig(*cfgPath)
		if err != nil {
			return err
		}
		cfg.URLs = []string{nowhere}
		logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
		logger.Warn("agent-noconnect: a deliberately broken build (e2e); it never connects", "version", version, "url", nowhere)
		notify, wd := agent.Systemd()
		a, err := agent.New(agent.Options{Config: cfg, Logger: logger, Version: version,
			Facts: facts.New(ctx, version).Collect, Notify: notify, WatchdogInterval: wd})
		if err != nil {
			return err
		}
		err = a.Run(ctx)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unknown command %q", args[0])
}
