// Package helmtest runs installer/helm against a real Kubernetes API: the
// k3s stand-in (e2e/k3s-standin), started as a plain process on loopback.
// It is not in package e2e because that package's TestMain boots the
// systemd test hosts when run as root, which these tests do not need.
//
// The stand-in is NOT k3s and runs no containers: kwok marks pods Running
// and Job pods Succeeded. So a chart's admission webhooks never answer:
// creating what they guard (a cert-manager ClusterIssuer, for one) fails
// here, and these tests do not try.
package helmtest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const adminPassword = "canary-grafana-Pa55word-0xC0FFEE"

func TestHelmOnK3sStandinLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Kubernetes control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	charts := chartstest.Files()
	grafanaTgz := chartstest.Archive(t, charts["grafana"])
	certTgz := chartstest.Archive(t, charts["cert-manager"])

	s := startStandin(t)
	kubeconfig := s.waitNodeReady(ctx, t)
	getter, err := helm.NewGetter(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl := &helm.Client{Getter: getter, Log: log, Timeout: 3 * time.Minute}
	cs, err := clientFrom(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The real resolver chain, with the environment as its only source.
	resolver := &secrets.Resolver{Sources: []secrets.Source{secrets.EnvSource{LookupEnv: func(name string) (string, bool) {
		if name == secrets.EnvName(secrets.Ref{Path: "foundry/grafana", Key: "admin_password"}) {
			return adminPassword, true
		}
		return "", false
	}}}}
	grafana, _ := helm.Lookup("grafana")
	certManager, _ := helm.Lookup("cert-manager")
	gch, err := helm.LoadChart(grafanaTgz, "grafana", "12.11.1")
	if err != nil {
		t.Fatal(err)
	}
	cch, err := helm.LoadChart(certTgz, "cert-manager", "v1.21.1")
	if err != nil {
		t.Fatal(err)
	}
	grafanaValues := func(extra helm.Values) helm.Resolved {
		t.Helper()
		v := helm.GrafanaValues(config.Grafana{AdminPassword: "${secret:foundry/grafana:admin_password}"}, true, true)
		for k, x := range extra {
			v[k] = x
		}
		r, err := helm.Resolve(ctx, v, resolver.Resolve)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Install: deployed, every workload ready, the password a Secret.
	base := grafanaValues(nil)
	res, err := cl.Install(ctx, grafana, gch, base.Values)
	if err != nil {
		t.Fatalf("install grafana: %v", err)
	}
	if res.Outcome != helm.Installed || res.Revision != 1 {
		t.Errorf("install grafana: %+v, want installed revision 1", res)
	}
	assertReady(ctx, t, cl, grafana, 1)
	sec, err := cs.CoreV1().Secrets("monitoring").Get(ctx, "grafana", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["admin-password"]) != adminPassword {
		t.Errorf("grafana Secret admin-password is not the resolved secret")
	}

	cres, err := cl.Install(ctx, certManager, cch, helm.CertManagerValues(config.CertManager{}))
	if err != nil {
		t.Fatalf("install cert-manager: %v", err)
	}
	if cres.Outcome != helm.Installed || len(cres.Workloads) < 3 {
		t.Errorf("install cert-manager: %+v, want installed with its 3 Deployments", cres)
	}
	assertReady(ctx, t, cl, certManager, 1)
	if _, err := cs.AppsV1().Deployments("cert-manager").Get(ctx, "cert-manager-webhook", metav1.GetOptions{}); err != nil {
		t.Errorf("cert-manager webhook Deployment: %v", err)
	}

	// Re-run with the same chart and values: no new revision.
	res, err = cl.Install(ctx, grafana, gch, grafanaValues(nil).Values)
	if err != nil || res.Outcome != helm.Unchanged || res.Revision != 1 {
		t.Fatalf("re-install grafana: %+v, %v; want unchanged at revision 1", res, err)
	}
	cres, err = cl.Install(ctx, certManager, cch, helm.CertManagerValues(config.CertManager{}))
	if err != nil || cres.Outcome != helm.Unchanged || cres.Revision != 1 {
		t.Fatalf("re-install cert-manager: %+v, %v; want unchanged at revision 1", cres, err)
	}
	assertHistory(ctx, t, cl, grafana, 1)

	// Values the chart's own schema refuses (cert-manager's replicaCount
	// is a number): one line naming the release, and no revision made.
	badValues := helm.CertManagerValues(config.CertManager{})
	badValues["replicaCount"] = "three"
	if _, err := cl.Install(ctx, certManager, cch, badValues); err == nil || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "upgrade of cert-manager failed") || !strings.Contains(err.Error(), "replicaCount") {
		t.Fatalf("values against the chart's schema: %v; want one line naming the release and the value", err)
	} else {
		t.Logf("reported: %v", err)
	}
	assertHistory(ctx, t, cl, certManager, 1)

	// The dry-run diff shows the change and never the password.
	two := grafanaValues(helm.Values{"replicas": 2})
	diff, err := cl.Diff(ctx, grafana, gch, two)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "+   replicas: 2") || strings.Contains(diff, adminPassword) {
		t.Errorf("diff lacks the replicas change or shows the password:\n%s", diff)
	}
	assertHistory(ctx, t, cl, grafana, 1)

	// Upgrade with changed values: exactly one revision more.
	res, err = cl.Install(ctx, grafana, gch, two.Values)
	if err != nil || res.Outcome != helm.Upgraded || res.Revision != 2 {
		t.Fatalf("upgrade grafana: %+v, %v; want upgraded to revision 2", res, err)
	}
	assertReady(ctx, t, cl, grafana, 2)
	assertHistory(ctx, t, cl, grafana, 2)

	// An upgrade that can never be ready is rolled back automatically.
	bad := grafanaValues(helm.Values{"replicas": 2, "nodeSelector": helm.Values{"foundry.test/no-such-node": "true"}})
	short := &helm.Client{Getter: getter, Log: log, Timeout: 40 * time.Second}
	_, err = short.Install(ctx, grafana, gch, bad.Values)
	var rb *helm.RolledBackError
	if !errors.As(err, &rb) {
		t.Fatalf("impossible upgrade: %v, want a RolledBackError", err)
	}
	var nr *helm.NotReadyError
	if rb.RollbackErr != nil || rb.FailedRevision != 3 || rb.Previous != 2 || rb.RestoredTo != 4 || !errors.As(err, &nr) ||
		!strings.Contains(err.Error(), "Deployment monitoring/grafana") {
		t.Fatalf("rollback report: %v (%+v)", err, rb)
	}
	t.Logf("reported: %v", err)
	assertReady(ctx, t, cl, grafana, 4)
	d, err := cs.AppsV1().Deployments("monitoring").Get(ctx, "grafana", metav1.GetOptions{})
	if err != nil || len(d.Spec.Template.Spec.NodeSelector) != 0 {
		t.Fatalf("after rollback the Deployment still selects %v (%v)", d.Spec.Template.Spec.NodeSelector, err)
	}

	// A run killed mid-upgrade leaves a pending-upgrade record, which Helm
	// refuses to upgrade past; the next install rolls it back and goes on.
	simulateInterruptedUpgrade(t, getter, grafana)
	res, err = cl.Install(ctx, grafana, gch, two.Values)
	if err != nil || res.Outcome != helm.Unchanged || res.Revision != 6 {
		t.Fatalf("install after an interrupted upgrade: %+v, %v; want unchanged at revision 6 (5 pending, rolled back to 4)", res, err)
	}
	assertReady(ctx, t, cl, grafana, 6)

	// Uninstall: the release and its workloads go.
	if err := cl.Uninstall(ctx, grafana); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Status(ctx, grafana); err == nil {
		t.Error("status after uninstall: want an error")
	}
	if _, err := cs.AppsV1().Deployments("monitoring").Get(ctx, "grafana", metav1.GetOptions{}); err == nil {
		t.Error("grafana Deployment still there after uninstall")
	}
}

func assertReady(ctx context.Context, t *testing.T, cl *helm.Client, c helm.Component, revision int) {
	t.Helper()
	st, err := cl.Status(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "deployed" || st.Revision != revision || !st.Ready || len(st.Workloads) == 0 {
		t.Fatalf("%s status: %+v, want deployed revision %d with every workload ready", c.Name, st, revision)
	}
}

func assertHistory(ctx context.Context, t *testing.T, cl *helm.Client, c helm.Component, n int) {
	t.Helper()
	h, err := cl.History(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n {
		t.Fatalf("%s history has %d revisions, want %d: %+v", c.Name, len(h), n, h)
	}
}

// simulateInterruptedUpgrade writes what a CLI killed during `helm
// upgrade` leaves behind: a new revision in status pending-upgrade.
func simulateInterruptedUpgrade(t *testing.T, getter *helm.Getter, c helm.Component) {
	t.Helper()
	cfg := &action.Configuration{}
	if err := cfg.Init(getter.ForNamespace(c.Namespace), c.Namespace, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	last, err := cfg.Releases.Last(c.Release())
	if err != nil {
		t.Fatal(err)
	}
	pending := *last
	info := *last.Info
	info.Status = release.StatusPendingUpgrade
	pending.Info, pending.Version = &info, last.Version+1
	if err := cfg.Releases.Create(&pending); err != nil {
		t.Fatal(err)
	}
}
