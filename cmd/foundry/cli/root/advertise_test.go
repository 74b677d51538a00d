package root

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
)

// cliIn runs one command line with home as $FOUNDRY_HOME and no
// connection flags in the environment.
func cliIn(t *testing.T, home string, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	t.Setenv("FOUNDRY_HOME", home)
	for _, k := range []string{"FOUNDRY_CONTROLLER", "FOUNDRY_CREDS", "FOUNDRY_CA"} {
		t.Setenv(k, "")
	}
	code := Run(context.Background(), NewFactory(ios, slog.New(slog.DiscardHandler), "test"), args)
	return code, out.String(), errOut.String()
}

// The README's `controller run --listen 0.0.0.0:4222 --advertise 10.0.0.5`
// must leave the admin's CLI on that machine working with no flags: the
// certificate also covers loopback, and the CLI finds the controller's
// port from the URLs file beside the admin credentials. 127.0.0.5 stands
// in for the LAN address (tests use loopback only).
func TestAdvertisedControllerServesTheLocalCLIWithDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("FOUNDRY_HOME", home)
	ctx, cancel := context.WithCancel(context.Background())
	ios, _, _, _ := cmdutil.Test()
	f := NewFactory(ios, slog.New(slog.DiscardHandler), "test")
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, f, []string{"controller", "run", "--listen", "0.0.0.0:0", "--advertise", "127.0.0.5", "--log-level", "error"})
	}()
	t.Cleanup(func() { cancel(); <-done })

	urlsFile := filepath.Join(home, "controller", controller.LocalURLsFile)
	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case code := <-done:
			done <- code
			return fmt.Errorf("controller exited %d", code)
		default:
		}
		if _, err := os.Stat(urlsFile); err != nil {
			return err
		}
		return nil
	})
	b, _ := os.ReadFile(urlsFile)
	urls := strings.Fields(string(b))
	if len(urls) != 2 || !strings.HasPrefix(urls[0], "tls://127.0.0.1:") || !strings.HasPrefix(urls[1], "tls://127.0.0.5:") {
		t.Fatalf("urls file: %q", b)
	}
	port := strings.TrimPrefix(urls[0], "tls://127.0.0.1:")

	code, out, errOut := cliIn(t, home, "host", "list", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("host list with defaults: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = cliIn(t, home, "controller", "info", "--json")
	if code != 0 || !strings.Contains(out, "tls://127.0.0.5:"+port) || strings.Contains(out, "tls://127.0.0.1:") {
		t.Fatalf("controller info: exit %d, %q %q (agents get only the advertised URL)", code, out, errOut)
	}
	// Loopback works when named explicitly too (what the old default dialed).
	for _, u := range []string{"tls://127.0.0.1:" + port, "tls://localhost:" + port} {
		if code, _, errOut := cliIn(t, home, "host", "list", "--controller", u); code != 0 {
			t.Fatalf("host list --controller %s: exit %d, %q", u, code, errOut)
		}
	}
	// A name the certificate does not cover is reported as that, not as
	// a controller to start.
	code, _, errOut = cliIn(t, home, "host", "list", "--controller", "tls://127.0.0.7:"+port)
	if code != ExitError || !strings.Contains(errOut, "certificate does not cover 127.0.0.7") ||
		!strings.Contains(errOut, "--advertise 127.0.0.7") || !strings.Contains(errOut, "--controller tls://") ||
		strings.Contains(errOut, "start it") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("uncovered name: exit %d, stderr %q", code, errOut)
	}
	// A CA that did not sign the certificate is named as that too.
	other := t.TempDir()
	if _, err := pki.Ensure(other, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = cliIn(t, home, "host", "list", "--ca", filepath.Join(other, pki.CAFile))
	if code != ExitError || !strings.Contains(errOut, "not signed by the CA in "+filepath.Join(other, pki.CAFile)) || strings.Contains(errOut, "start it") {
		t.Fatalf("foreign CA: exit %d, stderr %q", code, errOut)
	}
}

// A certificate made before the loopback names (here: issued for the
// advertised address only) is reissued once at start.
func TestOldCertificateIsReissuedForLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "controller")
	if _, err := controller.Init(controller.InitOptions{DataDir: dir, Listen: "0.0.0.0:4222", Advertise: []string{"127.0.0.5"}}); err != nil {
		t.Fatal(err)
	}
	// Reissue as an older Foundry did: advertised names only.
	if err := reissueAdvertisedOnly(dir, []string{"127.0.0.5"}); err != nil {
		t.Fatal(err)
	}
	c := ct.StartController(t, func(o *controller.Options) {
		o.DataDir, o.Listen, o.Advertise = dir, "0.0.0.0:0", []string{"127.0.0.5"}
	})
	ca := ct.WriteCA(t, c)
	port := strings.TrimPrefix(c.URLs()[0], "tls://127.0.0.5:")
	code, _, errOut := runCLI(t, "host", "list", "--controller", "tls://127.0.0.1:"+port, "--creds", c.AdminCredsPath(), "--ca", ca)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func reissueAdvertisedOnly(dir string, names []string) error {
	m, err := pki.Ensure(dir, names)
	if err != nil {
		return err
	}
	return m.Issue(dir, names)
}
