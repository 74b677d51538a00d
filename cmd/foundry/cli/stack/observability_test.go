package stack

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
)

// seedStack is the example stack.yaml of Foundry's design (the seed,
// "Stack Configuration"), with one addition: the registry's hosts, which
// the example leaves out and which Foundry needs to know where zot runs.
// Prometheus and Loki are configured only under observability, as there.
const seedStack = `# ~/.foundry/stack.yaml
version: "1.0"
cluster:
  name: production
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
    - hostname: node2.example.com
      role: worker

components:
  openbao:
    version: "2.1.0"  # Pin version, or omit for latest
    hosts:
      - openbao.example.com  # Runs on VM, not k8s

  k3s:
    version: "v1.28.5+k3s1"
    ha: true

  zot:
    version: "2.0.0"
    hosts: [node1.example.com]
    storage:
      backend: truenas
      path: ${secret:foundry/zot:storage_path}

  grafana:
    # version omitted - use latest
    admin_password: ${secret:foundry/grafana:admin_password}

observability:
  prometheus:
    retention: 30d
  loki:
    retention: 90d

storage:
  truenas:
    api_url: https://truenas.example.com
    api_key: ${secret:foundry/truenas:api_key}
`

func TestValidateAcceptsObservabilityFromTheSeed(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "stack.yaml")
	if err := os.WriteFile(path, []byte(seedStack), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := cmdutil.Test()
	o := &Options{Env: clicomp.Env{IO: ios, Home: func() (string, error) { return home, nil },
		ConfigPath: func() string { return path }, Getenv: func(string) string { return "" }}, JSON: true}
	if err := validateRun(context.Background(), o); err != nil {
		t.Fatalf("validate refused the seed's stack: %v\n%s", err, errOut)
	}
	var v validation
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range v.Order {
		order = append(order, e.Component)
	}
	got := strings.Join(order, " ")
	if !strings.Contains(got, "prometheus") || !strings.Contains(got, "loki") ||
		strings.Index(got, "prometheus") > strings.Index(got, "grafana") {
		t.Fatalf("order = %s; want prometheus and loki in it, prometheus before grafana", got)
	}
}

func TestValidateRefusesAHostServiceWithNoHosts(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "stack.yaml")
	noHosts := strings.Replace(seedStack, "    hosts: [node1.example.com]\n", "", 1)
	if err := os.WriteFile(path, []byte(noHosts), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := cmdutil.Test()
	o := &Options{Env: clicomp.Env{IO: ios, Home: func() (string, error) { return home, nil },
		ConfigPath: func() string { return path }, Getenv: func(string) string { return "" }}}
	err := validateRun(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "zot has no hosts") || !strings.Contains(err.Error(), "components.zot.hosts") {
		t.Fatalf("err = %v, want zot refused for having no hosts", err)
	}
}
