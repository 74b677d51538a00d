package controller

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestInitWritesKeysAndPrintsNoSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	ios, _, out, errOut := cmdutil.Test()
	if err := initRun(&InitOptions{IO: ios, DataDir: dir, Listen: "127.0.0.1:4222", Advertise: []string{"ctl.example"}, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var res initJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.AdminCreds != filepath.Join(dir, controller.AdminCredsFile) || res.CertSerial == "" {
		t.Fatalf("%s %v", out.String(), err)
	}
	for _, f := range []string{controller.AdminCredsFile, controller.SigningKeyFile, "ca.key", "server.key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(out.String()+errOut.String(), line) {
				t.Fatalf("init printed the content of %s", f)
			}
		}
	}
}

func TestFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	cmd := NewCmdRotateSigningKey(&cmdutil.Factory{IO: ios}, func(context.Context, *RotateKeyOptions) error { return nil })
	cmd.SetArgs([]string{"--timeout", "1h"})
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--timeout must be") {
		t.Fatalf("got %v", err)
	}
}

func TestRotateVerbs(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	agents := ct.StartAgents(t, c, admin, "web", 2)
	ct.WaitOnline(t, admin, 2)
	ctx := context.Background()

	ios, _, out, _ := cmdutil.Test()
	if err := rotateCertsRun(ctx, &RotateCertsOptions{IO: ios, Connect: ct.ConnectFunc(t, c), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var certs struct {
		messages.RotateCertsResult
		NotAfter string `json:"not_after"` // RFC 3339 in CLI output
	}
	if err := json.Unmarshal(out.Bytes(), &certs); err != nil || certs.Serial == "" {
		t.Fatalf("%s %v", out.String(), err)
	}

	ios, _, out, _ = cmdutil.Test()
	if err := rotateKeyRun(ctx, &RotateKeyOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 of 2 hosts now trust only the new key") {
		t.Fatalf("output %q", out.String())
	}
	// With a host down the verb exits 3 and names it.
	if err := agents[1].Kill(); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ = cmdutil.Test()
	err := rotateKeyRun(ctx, &RotateKeyOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Timeout: 5 * time.Second})
	var code *cmdutil.ExitCodeError
	if err == nil || !asExit(err, &code) || code.Code != 3 || !strings.Contains(out.String(), "web-2\t") {
		t.Fatalf("with web-2 down: %v\n%s", err, out.String())
	}
}

func asExit(err error, target **cmdutil.ExitCodeError) bool {
	e, ok := err.(*cmdutil.ExitCodeError)
	*target = e
	return ok
}
