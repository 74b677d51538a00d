package helm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
)

// TestInlineSecretsRefusedWithoutQuotingThem: every setting that carries
// a secret must be a reference; an inline value is refused with an error
// that names the setting and never repeats the value.
func TestInlineSecretsRefusedWithoutQuotingThem(t *testing.T) {
	const plain = "hunter2-plain-password"
	for _, tc := range []struct {
		comp, setting string
		set           func(*config.Config)
	}{
		{"external-dns", "components.external-dns.credentials", func(c *config.Config) { c.Components.ExternalDNS.Credentials = plain }},
		{"grafana", "components.grafana.admin_password", func(c *config.Config) { c.Components.Grafana.AdminPassword = plain }},
		{"minio", "components.minio.root_password", func(c *config.Config) { c.Components.MinIO.RootPassword = plain }},
		{"velero", "components.minio.root_user", func(c *config.Config) { c.Components.MinIO.RootUser = "prefix-" + plain }},
		{"velero", "components.velero.credentials", func(c *config.Config) { c.Components.Velero.Credentials = "[default]\nkey=" + plain }},
	} {
		cfg := fullStack()
		tc.set(cfg)
		_, err := helm.ValuesFor(tc.comp, cfg)
		if err == nil || !errors.Is(err, secrets.ErrMalformedRef) || !strings.Contains(err.Error(), tc.setting) {
			t.Errorf("%s with %s inline: %v, want a reference error naming the setting", tc.comp, tc.setting, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the secret: %v", tc.comp, err)
		}
	}
}
