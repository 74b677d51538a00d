package config

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

const refsConfig = `version: "1.0"
cluster:
  name: prod
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
components:
  openbao:
    hosts: [node1.example.com]
  k3s: {}
  zot:
    hosts: [node1.example.com]
    storage:
      backend: truenas
      path: ${secret:foundry/zot:storage_path}
  prometheus: {}
  grafana:
    admin_password: ${secret:foundry/grafana:admin_password}
storage:
  truenas:
    api_url: https://truenas.example.com
    api_key: ${secret:foundry/truenas:api_key}
foundry:
  ssh_keys: file
  controller:
    urls: [tls://ctl.example.com:4222]
    ca_file: ${secret:foundry/ctl:ca_path}
`

// One reference from each source and one from none: validate names the
// source of each, warns for the one nothing answers, and never prints a
// value.
func TestValidateSaysWhereEachSecretResolvesFrom(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": refsConfig})

	bao := openbao.NewDev("root")
	ts := httptest.NewServer(bao.Handler())
	t.Cleanup(ts.Close)
	client, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL, Token: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.KVPut(context.Background(), "foundry/truenas", map[string]any{"api_key": "bao-value-1"}, -1); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(t.TempDir(), ".foundryvars")
	if err := os.WriteFile(vars, []byte("foundry/zot:storage_path=vars-value-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{secrets.EnvName(secrets.Ref{Path: "foundry/grafana", Key: "admin_password"}): "env-value-3"}
	resolver := func(context.Context, *stackconfig.Config) (*secrets.Resolver, error) {
		return &secrets.Resolver{Sources: []secrets.Source{
			secrets.EnvSource{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
			&secrets.VarsSource{Path: vars},
			secrets.BaoSource{Client: client},
		}}, nil
	}
	o := &ValidateOptions{IO: e.io, selector: e.selector(), Resolver: resolver}
	if err := validateRun(o); err != nil {
		t.Fatalf("an unresolved reference is a warning, not a failure: %v\n%s", err, e.stdout)
	}
	out := e.stdout.String()
	for _, want := range []string{
		"components.grafana.admin_password (line 19) ${secret:foundry/grafana:admin_password}: environment",
		"components.zot.storage.path (line 16) ${secret:foundry/zot:storage_path}: " + vars,
		"storage.truenas.api_key (line 23) ${secret:foundry/truenas:api_key}: OpenBAO at " + ts.URL,
		"warning: foundry.controller.ca_file: secret ${secret:foundry/ctl:ca_path} does not resolve from any source",
		"FOUNDRY_SECRET_foundry_ctl_ca_path",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, v := range []string{"bao-value-1", "vars-value-2", "env-value-3"} {
		if strings.Contains(out+e.stderr.String(), v) {
			t.Fatalf("validate printed a secret value %q:\n%s", v, out)
		}
	}

	e.stdout.Reset()
	o.JSON = true
	if err := validateRun(o); err != nil {
		t.Fatal(err)
	}
	var got validateJSON
	if err := json.Unmarshal(e.stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.References) != 4 || len(got.Warnings) != 1 || got.References[0].Source == "" {
		t.Fatalf("json: %+v", got)
	}
	if strings.Contains(e.stdout.String(), "value-") {
		t.Fatalf("JSON holds a value:\n%s", e.stdout)
	}
}

// The command as users run it checks references; only tests that build
// the options by hand leave the resolver out.
func TestValidateCommandChecksReferences(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": refsConfig})
	var got *ValidateOptions
	cmd := NewCmdValidate(e.factory(), func(o *ValidateOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Resolver == nil {
		t.Fatal("config validate runs without a secret resolver")
	}
}
