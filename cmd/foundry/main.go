// Command foundry is the Foundry CLI and controller.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
	"github.com/foundry-fleet/foundry/packaging/buildinfo"
)

// version and commit are set at build time with -ldflags "-X main.version=...
// -X main.commit=..." (make build, packaging/build.sh); without a commit,
// Go's VCS stamp names it when there is one (see packaging/buildinfo).
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Main(ctx, buildinfo.Read(version, commit), os.Args[1:])
	stop()
	os.Exit(code)
}
