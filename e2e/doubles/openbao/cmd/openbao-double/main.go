// Command openbao-double runs the OpenBAO TEST DOUBLE from
// e2e/doubles/openbao as a standalone server, for e2e tests that need a
// process to point Foundry at. It is not OpenBAO and must never be
// shipped or used outside tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "openbao-double:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8200", "address to listen on")
	devRoot := flag.String("dev-root-token", "", "start initialised and unsealed with KV v2 at secret/ and this root token (like bao server -dev); empty starts uninitialised")
	flag.Parse()

	s := openbao.New()
	if *devRoot != "" {
		s = openbao.NewDev(*devRoot)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "openbao-double: TEST DOUBLE, not OpenBAO, listening on http://%s\n", *addr)
	return s.Serve(ctx, *addr)
}
