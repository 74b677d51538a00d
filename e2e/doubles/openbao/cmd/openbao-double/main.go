// Command openbao-double runs the OpenBAO TEST DOUBLE from
// e2e/doubles/openbao as a standalone server, for e2e tests that need a
// process to point Foundry at, or a `bao` binary to install on a test
// host. It is not OpenBAO and must never be shipped or used outside tests.
//
//	openbao-double version                 # OpenBAO v<version> (TEST DOUBLE)
//	openbao-double server -config=FILE     # like `bao server -config=FILE`
//	openbao-double [-addr A] [-dev-root-token T]   # the original flag mode
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

// version is the OpenBAO version the double claims, so it can stand in for
// a given artifact version: go build -ldflags "-X main.version=2.2.0".
var version = "2.1.0"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "openbao-double:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Printf("OpenBAO v%s (TEST DOUBLE)\n", version)
			return nil
		case "server":
			return server(args[1:])
		}
	}
	return flagMode(args)
}

// server is `bao server -config=FILE`: listener and storage come from the
// file, and a storage "file" path makes the state survive restarts.
func server(args []string) error {
	fs := flag.NewFlagSet("openbao-double server", flag.ExitOnError)
	configPath := fs.String("config", "", "configuration file (the HCL subset openbao.ParseConfig documents)")
	_ = fs.Parse(args) // ExitOnError: Parse exits on a bad flag
	if *configPath == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: openbao-double server -config=FILE")
	}
	cfg, err := openbao.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	s := openbao.New()
	storage := "in memory"
	if cfg.StorageType == "file" {
		if s, err = openbao.Open(cfg.StoragePath); err != nil {
			return err
		}
		storage = "in " + cfg.StoragePath
	}
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" {
		// Read once at start, as OpenBAO does (it reloads on SIGHUP,
		// which the double ignores).
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("listener TLS: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return serve(s, cfg.Address, storage, tlsCfg)
}

// flagMode is the original interface, kept for the tests that use it.
func flagMode(args []string) error {
	fs := flag.NewFlagSet("openbao-double", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8200", "address to listen on")
	devRoot := fs.String("dev-root-token", "", "start initialised and unsealed with KV v2 at secret/ and this root token (like bao server -dev); empty starts uninitialised")
	_ = fs.Parse(args)

	s := openbao.New()
	if *devRoot != "" {
		s = openbao.NewDev(*devRoot)
	}
	return serve(s, *addr, "in memory", nil)
}

// serve runs s on addr until SIGTERM or SIGINT, then shuts down cleanly
// and returns nil, so systemd sees a clean stop. Under a Type=notify unit
// (as OpenBAO's own unit is) it reports READY=1 once the port is open;
// SIGHUP, which OpenBAO takes as "reload", is ignored rather than fatal.
// With tlsCfg it serves https only, as OpenBAO's TLS listener does.
func serve(s *openbao.Server, addr, storage string, tlsCfg *tls.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	signal.Ignore(syscall.SIGHUP)
	s.SetVersion(version)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	fmt.Fprintf(os.Stderr, "openbao-double: TEST DOUBLE, not OpenBAO, claiming version %s, listening on %s://%s, state %s\n", version, scheme, ln.Addr(), storage)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	return s.ServeListener(ctx, ln)
}
