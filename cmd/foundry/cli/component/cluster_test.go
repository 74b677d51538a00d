package component

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

const clusterStackYAML = `version: "1.0"
cluster:
  name: t
  domain: t.example.com
  nodes:
    - hostname: node1.t.example.com
      role: control-plane
components:
  openbao:
    hosts: [bao1.t.example.com]
  k3s:
  prometheus:
  grafana:
    version: "12.11.1"
    admin_password: ${secret:foundry/grafana:admin_password}
foundry:
  ssh_keys: file
`

func chartFromShared(t *testing.T) func(context.Context, string, string) ([]byte, error) {
	dir := chartstest.Dir(t)
	return func(_ context.Context, chart, version string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, chart+"-"+version+".tgz"))
	}
}

func TestClusterInstallDryRunShowsValuesWithoutResolvingSecrets(t *testing.T) {
	env, out := testEnv(t, clusterStackYAML)
	env.Cluster.Chart = chartFromShared(t)
	env.Cluster.Secrets = func(context.Context, secrets.Ref) (string, error) {
		t.Error("--dry-run resolved a secret")
		return "canary-value", nil
	}
	o := &Options{Env: env, Name: "grafana"}
	o.DryRun = true
	if err := installRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := out()
	for _, want := range []string{"# grafana: chart grafana 12.11.1, namespace monitoring", "adminPassword: <secret>", "url: http://prometheus-server.monitoring.svc"} {
		if !strings.Contains(got, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "canary-value") || strings.Contains(got, "${secret") {
		t.Errorf("dry-run output shows a secret or its reference:\n%s", got)
	}
}

func TestClusterVerbsSayWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	env, _ := testEnv(t, clusterStackYAML)
	for _, tc := range []struct {
		name, component, version, want string
		chart                          bool
	}{
		{"not configured", "loki", "", "add components.loki", true},
		{"no version", "prometheus", "", "set components.prometheus.version", true},
		{"no chart source", "grafana", "", "no chart source", false},
		{"wrong version", "grafana", "12.0.0", "no such file", true},
		{"no cluster", "grafana", "", "no kubeconfig store", true},
	} {
		e := env
		if tc.chart {
			e.Cluster.Chart = chartFromShared(t)
		}
		e.Cluster.Secrets = func(context.Context, secrets.Ref) (string, error) { return "x-secret", nil }
		o := &Options{Env: e, Name: tc.component, Version: tc.version}
		err := installRun(ctx, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	o := &Options{Env: env, Name: "grafana"}
	if err := statusRun(ctx, o); err == nil || !strings.Contains(err.Error(), "no kubeconfig store") {
		t.Errorf("status without a cluster: %v", err)
	}
}
