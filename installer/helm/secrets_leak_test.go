package helm_test

import (
	"context"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
	"sigs.k8s.io/yaml"
)

// oldSecrets is the previous value of every reference, as an upgrade
// that rotates a password sees the deployed release.
func oldSecrets(_ context.Context, r secrets.Ref) (string, error) {
	return "0ld-s3cr3t-" + strings.ReplaceAll(r.PathKey(), "/", "-"), nil
}

var b64Token = regexp.MustCompile(`[A-Za-z0-9+/]{8,}={0,2}`)

// leaks reports where text shows a fake secret: in plain text, or inside
// any base64 run (a Secret's data, a credentials file, a checksum would
// not decode to it).
func leaks(text string) []string {
	var out []string
	if i := strings.Index(text, "s3cr3t"); i >= 0 {
		out = append(out, "plain: "+text[max(0, i-40):min(len(text), i+40)])
	}
	for _, tok := range b64Token.FindAllString(text, -1) {
		for _, pad := range []string{"", "=", "=="} {
			if b, err := base64.StdEncoding.DecodeString(tok + pad); err == nil && strings.Contains(string(b), "s3cr3t") {
				out = append(out, "base64: "+tok)
			}
		}
	}
	return out
}

// TestDryRunAndDiffNeverShowResolvedSecrets: for every component that
// takes a secret reference, what --dry-run prints (the values with
// references redacted, and the manifest diff of a first install and of
// an upgrade that rotates every secret, masked as Client.Diff masks them)
// holds no resolved secret value in any form, while the render that goes
// to Helm does hold them (so the test is not vacuous).
func TestDryRunAndDiffNeverShowResolvedSecrets(t *testing.T) {
	truenas := stack(config.Components{Velero: &config.Velero{Credentials: "${secret:foundry/velero:cloud}"}})
	truenas.Storage = &config.Storage{TrueNAS: &config.TrueNAS{APIURL: "https://nas", S3Endpoint: "https://nas:9000"}}
	argo := stack(config.Components{Zot: &config.Zot{Hosts: []string{"reg1"}, Auth: "htpasswd"}, ArgoCD: &config.ArgoCD{}})
	for _, tc := range []struct {
		name, comp string
		cfg        *config.Config
	}{
		{"external-dns", "external-dns", fullStack()},
		{"grafana", "grafana", fullStack()},
		{"minio", "minio", fullStack()},
		{"velero on minio", "velero", fullStack()},
		{"velero on truenas", "velero", truenas},
		{"argocd", "argocd", argo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := helm.Lookup(tc.comp)
			next := renderWith(t, tc.comp, tc.cfg, fakeSecrets)
			prev := renderWith(t, tc.comp, tc.cfg, oldSecrets)
			if len(leaks(next.text)) == 0 {
				t.Fatal("the render holds no resolved secret: nothing to test")
			}

			shown, err := yaml.Marshal(helm.Redacted(next.values))
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(string(shown)); len(l) > 0 || !strings.Contains(string(shown), helm.Masked) {
				t.Errorf("dry-run values show a secret (%v) or no %s:\n%s", l, helm.Masked, shown)
			}

			first, err := helm.DiffManifests("", next.resolved.Mask(next.text), c.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(first); len(l) > 0 {
				t.Errorf("first-install diff leaks: %v", l)
			}
			up, err := helm.DiffManifests(next.resolved.Mask(prev.text), next.resolved.Mask(next.text), c.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(up); len(l) > 0 {
				t.Errorf("upgrade diff leaks: %v", l)
			}
		})
	}
}
