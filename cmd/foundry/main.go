// Command foundry is the Foundry CLI and controller.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Main(ctx, version, os.Args[1:])
	stop()
	os.Exit(code)
}
