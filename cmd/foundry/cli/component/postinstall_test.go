package component

import (
	"context"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// TestCertManagerDryRunShowsTheIssuers: --dry-run of cert-manager
// prints, after its values, the issuers applied once it is ready.
func TestCertManagerDryRunShowsTheIssuers(t *testing.T) {
	yml := strings.Replace(clusterStackYAML, "  prometheus:\n", "  prometheus:\n  cert-manager:\n    version: v1.21.1\n    issuer: letsencrypt\n    email: ops@example.com\n", 1)
	env, out := testEnv(t, yml)
	env.Cluster.Chart = chartFromShared(t)
	env.Cluster.Secrets = func(context.Context, secrets.Ref) (string, error) {
		t.Error("--dry-run resolved a secret")
		return "", nil
	}
	o := &Options{Env: env, Name: "cert-manager"}
	o.DryRun = true
	if err := installRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := out()
	for _, want := range []string{
		"enabled: true", // crds
		"# applied after cert-manager is ready (server-side apply):",
		"kind: ClusterIssuer", "name: foundry-selfsigned", "kind: Certificate", "name: foundry-ca",
		"name: letsencrypt", "server: https://acme-v02.api.letsencrypt.org/directory", "ingressClassName: contour",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, got)
		}
	}
}
