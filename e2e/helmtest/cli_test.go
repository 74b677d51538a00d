package helmtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

const cliStack = `version: "1.0"
cluster:
  name: helmtest
  domain: helmtest.example.com
  nodes:
    - hostname: node1.helmtest.example.com
      role: control-plane
components:
  openbao:
    hosts: [bao1.helmtest.example.com]
  k3s:
  prometheus:
    version: "29.27.0"
  grafana:
    version: "12.11.1"
    admin_password: ${secret:foundry/grafana:admin_password}
foundry:
  ssh_keys: file
`

// TestHelmOnK3sStandinComponentCLI drives `foundry component` verbs for
// cluster components with fake IO against the stand-in; the kubeconfig,
// chart and secret sources are the functions the root command connects.
func TestHelmOnK3sStandinComponentCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Kubernetes control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	charts := chartstest.Dir(t)
	s := startStandin(t)
	kubeconfig := s.waitNodeReady(ctx, t)

	home := t.TempDir()
	stack := filepath.Join(home, "stack.yaml")
	write(t, stack, cliStack)
	resolver := &secrets.Resolver{Sources: []secrets.Source{secrets.EnvSource{LookupEnv: func(name string) (string, bool) {
		if name == secrets.EnvName(secrets.Ref{Path: "foundry/grafana", Key: "admin_password"}) {
			return adminPassword, true
		}
		return "", false
	}}}}
	run := func(verb, name string, timeout time.Duration, set func(*component.Options)) (string, string, error) {
		t.Helper()
		ios, _, out, errOut := cmdutil.Test()
		o := &component.Options{Name: name, Env: component.Env{IO: ios,
			Home: func() (string, error) { return home, nil }, ConfigPath: func() string { return stack },
			Getenv: func(string) string { return "" },
			Cluster: component.ClusterEnv{
				Kubeconfig: func(_ context.Context, cluster string) ([]byte, error) {
					if cluster != "helmtest" {
						t.Errorf("kubeconfig asked for cluster %q", cluster)
					}
					return kubeconfig, nil
				},
				Chart: func(_ context.Context, chart, version string) ([]byte, error) {
					return os.ReadFile(filepath.Join(charts, chart+"-"+version+".tgz"))
				},
				Secrets: resolver.Resolve,
				Timeout: timeout,
			}}}
		if set != nil {
			set(o)
		}
		err := component.Run(ctx, verb, o)
		return out.String(), errOut.String(), err
	}
	noSecret := func(what string, outs ...string) {
		t.Helper()
		for _, s := range outs {
			if strings.Contains(s, adminPassword) {
				t.Errorf("%s printed the Grafana password", what)
			}
		}
	}
	yes := func(o *component.Options) { o.Yes = true }

	out, errOut, err := run("install", "grafana", 2*time.Minute, nil)
	if err != nil || !strings.Contains(out, "grafana installed: revision 1") {
		t.Fatalf("install grafana: %v\n%s%s", err, out, errOut)
	}
	noSecret("install", out, errOut)
	out, _, err = run("install", "grafana", 2*time.Minute, nil)
	if err != nil || !strings.Contains(out, "grafana unchanged: revision 1") {
		t.Fatalf("re-install grafana: %v\n%s", err, out)
	}
	// Status reports the release to the controller for the web view's
	// stack page (the controller cannot read the cluster itself).
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	before := time.Now().UnixMilli()
	out, _, err = run("status", "grafana", 0, func(o *component.Options) { o.JSON = true; o.Connect = ct.ConnectFunc(t, c) })
	var st helm.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Status != "deployed" || !st.Ready || st.ChartVersion != "12.11.1" {
		t.Fatalf("status: %v %+v\n%s", err, st, out)
	}
	reported, err := admin.Stack(ctx)
	if err != nil || len(reported.Components) != 1 {
		t.Fatalf("reported to the controller: %+v %v, want grafana", reported, err)
	}
	if r := reported.Components[0]; r.Component != "grafana" || r.Cluster != "helmtest" || r.Release != st.Release || r.Namespace != st.Namespace ||
		r.ChartVersion != "12.11.1" || r.Status != "deployed" || !r.Healthy || r.Workloads != len(st.Workloads) || r.WorkloadsReady != r.Workloads ||
		r.CheckedAt < before || r.Operator != "admin" {
		t.Fatalf("reported %+v; want grafana deployed and ready in cluster helmtest as status printed it: %+v", r, st)
	}

	// A config change: the dry run shows it as a diff, then the upgrade
	// makes exactly one revision.
	write(t, stack, strings.Replace(cliStack, "    admin_password:", "    plugins: [grafana-piechart-panel]\n    admin_password:", 1))
	out, errOut, err = run("upgrade", "grafana", 0, func(o *component.Options) { o.DryRun = true })
	if err != nil || !strings.Contains(out, "adminPassword: <secret>") || !strings.Contains(out, "# diff of the rendered manifests") ||
		!strings.Contains(out, "grafana-piechart-panel") {
		t.Fatalf("upgrade --dry-run: %v\n%s%s", err, out, errOut)
	}
	noSecret("upgrade --dry-run", out, errOut)
	out, errOut, err = run("upgrade", "grafana", 2*time.Minute, yes)
	if err != nil || !strings.Contains(out, "grafana upgraded: revision 2") {
		t.Fatalf("upgrade: %v\n%s%s", err, out, errOut)
	}

	// Prometheus' server wants a PersistentVolumeClaim, which nothing
	// binds on the stand-in: the install reports what is not ready, and
	// the release exists.
	_, _, err = run("install", "prometheus", 20*time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), "Deployment monitoring/prometheus-server") {
		t.Fatalf("install prometheus: %v, want the server Deployment named as not ready", err)
	}
	_, _, err = run("uninstall", "prometheus", 0, yes)
	if err == nil || !strings.Contains(err.Error(), "needed by grafana") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("uninstall prometheus under grafana: %v, want a refusal naming grafana and --force", err)
	}
	if _, _, err = run("uninstall", "prometheus", 0, func(o *component.Options) { o.Yes, o.Force = true, true }); err != nil {
		t.Fatal(err)
	}
	// The stack page stops showing what was uninstalled: the uninstall
	// and a later status both tell the controller it is not installed.
	connect := func(o *component.Options) { o.Yes, o.Connect = true, ct.ConnectFunc(t, c) }
	if _, _, err = run("uninstall", "grafana", 0, connect); err != nil {
		t.Fatal(err)
	}
	gone := func(when string, wantStatus string, after int64) {
		t.Helper()
		reported, err := admin.Stack(ctx)
		if err != nil || len(reported.Components) != 1 {
			t.Fatalf("%s: reported %+v %v, want grafana only", when, reported, err)
		}
		if r := reported.Components[0]; r.Component != "grafana" || r.Healthy || r.Status != wantStatus || r.Revision != 0 || r.CheckedAt < after {
			t.Fatalf("%s: reported %+v; want grafana %q, not healthy, checked after %d", when, r, wantStatus, after)
		}
	}
	gone("after uninstall", "not installed: uninstalled by foundry component uninstall", before)
	before = time.Now().UnixMilli()
	if _, _, err = run("status", "grafana", 0, func(o *component.Options) { o.Connect = ct.ConnectFunc(t, c) }); err == nil {
		t.Error("status after uninstall: want an error")
	}
	gone("after status", "not installed", before)
}
