package component

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	registrystandin "github.com/foundry-fleet/foundry/e2e/doubles/registry"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
	"github.com/foundry-fleet/foundry/messages"
)

// The Helm verbs get charts from the artifact store, as imported and
// signed, through the operator's own connection.
func TestWiredChartsComeFromTheArtifactStore(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := context.Background()
	chart := bytes.Repeat([]byte("chart"), 4096)
	if err := admin.UploadArtifact(ctx, "grafana", "12.11.1", "grafana-12.11.1.tgz", bytes.NewReader(chart)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ImportArtifact(ctx, messages.ArtifactImportRequest{Component: "grafana", Version: "12.11.1", Files: []string{"grafana-12.11.1.tgz"}}); err != nil {
		t.Fatal(err)
	}
	env, _ := testEnv(t, stackYAML)
	env.Connect = ct.ConnectFunc(t, c)
	w := env.Wired()
	got, err := w.Cluster.Chart(ctx, "grafana", "12.11.1")
	if err != nil || !bytes.Equal(got, chart) {
		t.Fatalf("chart: %d bytes, %v", len(got), err)
	}
	if _, err := w.Cluster.Chart(ctx, "grafana", "12.12.0"); err == nil || !strings.Contains(err.Error(), "foundry artifact import") {
		t.Fatalf("a chart not imported: %v", err)
	}
	// The stack keeps its secrets in OpenBAO, and there is no token yet.
	if _, err := w.Cluster.Kubeconfig(ctx, "t"); err == nil || !strings.Contains(err.Error(), "foundry secret login") {
		t.Fatalf("kubeconfig without an OpenBAO token: %v", err)
	}
}

// Installs take an imported chart from the stack's registry (here the
// stand-in for Zot) when it holds the signed bytes, and say so; from the
// artifact store when the registry is down or holds other bytes.
func TestWiredChartsComeFromTheZotStandInWhenItHasThem(t *testing.T) {
	data := chartstest.Archive(t, "grafana-12.11.1.tgz")
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := context.Background()
	if err := admin.UploadArtifact(ctx, "grafana", "12.11.1", "grafana-12.11.1.tgz", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ImportArtifact(ctx, messages.ArtifactImportRequest{Component: "grafana", Version: "12.11.1", Files: []string{"grafana-12.11.1.tgz"}}); err != nil {
		t.Fatal(err)
	}
	reg, err := registrystandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	r := helm.Registry{Host: reg.Host, PlainHTTP: true}

	env, _ := testEnv(t, stackYAML)
	env.Connect = ct.ConnectFunc(t, c)
	registry := reg.Host
	env.Getenv = func(k string) string {
		if k == EnvRegistry {
			return registry
		}
		return ""
	}
	chart := func(wantNote string) {
		t.Helper()
		ios, _, _, errOut := cmdutil.Test()
		env.IO = ios
		got, err := env.Wired().Cluster.Chart(ctx, "grafana", "12.11.1")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("chart: %d bytes, %v", len(got), err)
		}
		if !strings.Contains(errOut.String(), wantNote) {
			t.Fatalf("stderr %q, want %q", errOut.String(), wantNote)
		}
	}
	chart("not from the registry " + reg.Host) // not pushed yet
	if _, _, err := helm.PushChart(ctx, r, data, "grafana", "12.11.1"); err != nil {
		t.Fatal(err)
	}
	chart("from the registry " + reg.Host)
	registry = "127.0.0.1:1"
	chart("from the artifact store (grafana/12.11.1/grafana-12.11.1.tgz)")
}
