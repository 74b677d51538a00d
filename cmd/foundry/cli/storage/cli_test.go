package storage_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/storage"
	"github.com/foundry-fleet/foundry/controller/secrets"
	double "github.com/foundry-fleet/foundry/e2e/doubles/truenas"
)

// The storage scenario through the whole command tree, as a user
// runs it: flags, the config file, the API key from the environment
// through the standard resolver chain, output and exit codes. TrueNAS is
// the API test double over TLS.
func TestStorageCommandsThroughTheCLIAgainstTrueNASDouble(t *testing.T) {
	nas := double.Sample()
	nas.AddKey("1-rw", double.ReadWrite)
	nas.AddKey("2-ro", double.ReadOnly)
	ts := httptest.NewTLSServer(nas.Handler())
	t.Cleanup(ts.Close)

	dir := t.TempDir()
	t.Setenv("HOME", dir) // no ~/.foundryvars of the user's
	t.Setenv("FOUNDRY_HOME", filepath.Join(dir, ".foundry"))
	ca := filepath.Join(dir, "truenas-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prod.yaml")
	if err := os.WriteFile(cfg, []byte("version: \"1.0\"\ncluster:\n  name: prod\n  domain: example.com\n  nodes:\n    - hostname: n1.example.com\n      role: control-plane\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ref, _ := secrets.ParseRef(storage.DefaultAPIKeyRef)
	keyVar := secrets.EnvName(ref)

	foundry := func(args ...string) (int, string, string) {
		t.Helper()
		ios, _, out, errOut := cmdutil.Test()
		code := root.Run(context.Background(), root.NewFactory(ios, slog.New(slog.DiscardHandler), "test"), append([]string{"--config", cfg}, args...))
		return code, out.String(), errOut.String()
	}

	t.Setenv(keyVar, "1-rw")
	if code, out, errOut := foundry("storage", "configure", "--url", ts.URL, "--ca-file", ca); code != 0 {
		t.Fatalf("configure: exit %d\n%s%s", code, out, errOut)
	}
	text, _ := os.ReadFile(cfg)
	if !strings.Contains(string(text), "api_key: ${secret:foundry/truenas:api_key}") || strings.Contains(string(text), "1-rw") {
		t.Fatalf("config after configure:\n%s", text)
	}
	code, out, errOut := foundry("storage", "list", "--json")
	var inv storage.Inventory
	if code != 0 || json.Unmarshal([]byte(out), &inv) != nil || len(inv.Pools) != 1 || len(inv.Zvols) != 1 || len(inv.NFSShares) != 1 {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := foundry("storage", "test"); code != 0 || strings.Count(out, "\tok\t") != 4 {
		t.Fatalf("test: exit %d\n%s%s", code, out, errOut)
	}

	t.Setenv(keyVar, "3-wrong")
	code, out, errOut = foundry("storage", "test")
	if code != 1 || !strings.Contains(errOut, "storage test failed at authentication: TrueNAS refused the API key") {
		t.Fatalf("wrong key: exit %d\n%s%s", code, out, errOut)
	}

	t.Setenv(keyVar, "2-ro")
	code, out, errOut = foundry("storage", "test")
	if code != 1 || !strings.Contains(errOut, "storage test failed at permissions") || !strings.Contains(out, "authentication\tok\t") {
		t.Fatalf("read-only key: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "2-ro") {
		t.Fatal("the API key was printed")
	}
}
