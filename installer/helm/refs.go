package helm

import (
	"fmt"
	"sort"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// secretSettings are the config settings of component name that carry
// a secret (keyed by their config path); each must be a reference, so
// the value reaches the cluster only as a Secret resolved at install.
func secretSettings(name string, c *config.Config) map[string]string {
	cs := c.Components
	out := map[string]string{}
	switch name {
	case "external-dns":
		if cs.ExternalDNS != nil {
			out["components.external-dns.credentials"] = cs.ExternalDNS.Credentials
		}
	case "grafana":
		if cs.Grafana != nil {
			out["components.grafana.admin_password"] = cs.Grafana.AdminPassword
		}
	case "minio", "velero": // Velero on MinIO logs in with MinIO's root pair
		if cs.MinIO != nil {
			out["components.minio.root_user"] = cs.MinIO.RootUser
			out["components.minio.root_password"] = cs.MinIO.RootPassword
		}
		if name == "velero" && cs.Velero != nil {
			out["components.velero.credentials"] = cs.Velero.Credentials
		}
	}
	return out
}

// checkSecretRefs refuses a secret written inline. The error names the
// setting and never quotes its value (which would be the secret).
func checkSecretRefs(name string, c *config.Config) error {
	settings := secretSettings(name, c)
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := mustRef(k, settings[k]); err != nil {
			return err
		}
	}
	return nil
}

// mustRef: "" (the default reference applies) or exactly one reference.
func mustRef(setting, v string) error {
	if v == "" {
		return nil
	}
	if _, err := secrets.ParseRef(v); err != nil {
		return fmt.Errorf("%s is not a secret reference (%w); store the value with foundry secret set and write ${secret:path:key} there", setting, secrets.ErrMalformedRef)
	}
	return nil
}
