package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// runMode runs "k3s server" or "k3s agent" until SIGTERM/SIGINT, then
// stops the children and returns 0; any startup error returns 1, which
// is how k3s reports a bad config to systemd.
func runMode(mode string, args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("k3s", "stand-in", "mode", mode)
	log.Info(standinBanner, "version", standinVersion())
	c, err := loadConfig(mode, args, log)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return 1
	}
	reg, err := loadRegistries(c.RegistriesFile)
	if err != nil {
		log.Error("refusing registries.yaml", "err", err)
		return 1
	}
	if len(c.Disable) > 0 {
		log.Info("disable recorded; the stand-in packages no components to disable", "disable", c.Disable)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if mode == "server" {
		err = runServer(ctx, log, c, reg)
	} else {
		err = runAgent(ctx, log, c, reg)
	}
	if err != nil {
		log.Error("exit", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
