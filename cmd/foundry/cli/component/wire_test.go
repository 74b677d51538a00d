package component

import (
	"bytes"
	"context"
	"strings"
	"testing"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
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
