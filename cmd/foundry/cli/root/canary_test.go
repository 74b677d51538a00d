package root

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

// TestCanarySecretNeverLeaks sets a canary value through the secrets path
// (foundry secret set, into OpenBAO — a test double, see its package doc),
// references it from the stack config, then drives the fleet (enrolment,
// status, a rolling job, events, audit) and greps every output for it:
// controller logs, agent logs, CLI stdout and stderr of each command,
// events, audit records, job results and config show. Zero hits allowed.
func TestCanarySecretNeverLeaks(t *testing.T) {
	const canary = "canary-7f3e91c2d84b5a60"
	const token = "root-token"
	bao := httptest.NewServer(openbao.NewDev(token).Handler())
	t.Cleanup(bao.Close)

	ctlLogs, agentLogs := &ct.LogBuffer{}, &ct.LogBuffer{}
	c := ct.StartController(t, func(o *controller.Options) { o.Logger = ctlLogs.Logger() })
	admin := ct.Client(t, c)
	for _, id := range []string{"c-1", "c-2"} {
		ct.RunAgentWith(t, ct.EnrollConfig(t, admin, c, id, t.TempDir()), ct.AgentOptions{Logger: agentLogs.Logger()})
	}
	ct.WaitOnline(t, admin, 2)

	home := t.TempDir()
	cfg := "version: \"1.0\"\ncluster:\n  name: lab\n  domain: lab.example.com\n  nodes:\n    - hostname: node1.lab.example.com\n      role: control-plane\n" +
		"components:\n  openbao:\n    hosts: [node1.lab.example.com]\n  k3s: {}\n  prometheus: {}\n  grafana:\n    admin_password: ${secret:foundry/grafana:admin_password}\n" +
		"foundry:\n  openbao:\n    address: " + bao.URL + "\n"
	if err := os.WriteFile(filepath.Join(home, "lab.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FOUNDRY_HOME", home)
	t.Setenv("BAO_TOKEN", token)
	for _, k := range []string{"FOUNDRY_CONFIG", "FOUNDRY_CONTROLLER", "FOUNDRY_CREDS", "FOUNDRY_CA", "BAO_ADDR", "VAULT_ADDR", "VAULT_TOKEN"} {
		t.Setenv(k, "")
	}
	conn := []string{"--controller", c.URLs()[0], "--creds", c.AdminCredsPath(), "--ca", ct.WriteCA(t, c)}
	var outputs []string
	run := func(stdin string, args ...string) int {
		t.Helper()
		ios, in, out, errOut := cmdutil.Test()
		in.WriteString(stdin)
		code := Run(context.Background(), NewFactory(ios, slog.New(slog.NewTextHandler(errOut, nil)), "test"), append(conn, args...))
		outputs = append(outputs, strings.Join(args, " ")+"\n"+out.String()+errOut.String())
		return code
	}

	if code := run(canary+"\n", "secret", "set", "foundry/grafana", "--key", "admin_password"); code != 0 {
		t.Fatalf("secret set failed:\n%s", outputs[len(outputs)-1])
	}
	for _, args := range [][]string{
		{"config", "show"}, {"config", "show", "--json"}, {"config", "validate"}, {"config", "list"},
		{"secret", "list", "foundry"},
		{"host", "list", "--json"}, {"fleet", "status", "--json"},
		{"fleet", "status", "--batch", "1"},
		{"job", "list", "--json"},
		{"events", "list", "--since", "1h", "--json"},
		{"audit", "list", "--since", "1h", "--json"},
	} {
		if code := run("", args...); code != 0 {
			t.Fatalf("%v exited %d:\n%s", args, code, outputs[len(outputs)-1])
		}
	}
	// The canary is really where the config points (so the greps below
	// are not vacuous): the secret path resolves it, and only with --yes.
	if code := run("", "secret", "get", "foundry/grafana:admin_password", "--yes"); code != 0 || !strings.Contains(outputs[len(outputs)-1], canary) {
		t.Fatalf("the canary is not stored where the config refers: %s", outputs[len(outputs)-1])
	}
	outputs = outputs[:len(outputs)-1] // that one printed it on request

	for name, text := range map[string]string{"controller log": ctlLogs.String(), "agent log": agentLogs.String()} {
		if strings.Contains(text, canary) {
			t.Errorf("canary found in %s", name)
		}
	}
	for _, o := range outputs {
		if strings.Contains(o, canary) {
			t.Errorf("canary found in the output of: %s", strings.SplitN(o, "\n", 2)[0])
		}
	}
	if len(outputs) < 12 || !strings.Contains(strings.Join(outputs, ""), "${secret:foundry/grafana:admin_password}") {
		t.Fatalf("config show did not show the reference; outputs:\n%s", strings.Join(outputs, "\n---\n"))
	}
}
