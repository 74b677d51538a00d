package helm

import (
	"net"
	"strconv"

	"github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// StackRegistry is the stack's OCI registry as workloads in the cluster
// reach it, for the components that pull from it themselves (Argo CD
// pulls charts and OCI sources).
type StackRegistry struct {
	Host string // host:port; "" when the stack has no registry
	// PlainHTTP: Foundry's registry serves HTTP on its hosts.
	PlainHTTP bool
	// Username and Password are secret references, "" for a registry
	// without authentication.
	Username, Password string
}

// RegistryOf derives the registry from the config: the first of
// components.zot.hosts at its cluster.nodes address (else its hostname,
// which must then resolve in the cluster) on component.RegistryPort. A
// registry with auth reads its credentials from foundry/zot:username and
// foundry/zot:password, where `foundry secret set` puts them.
func RegistryOf(c *config.Config) StackRegistry {
	z := c.Components.Zot
	if z == nil || len(z.Hosts) == 0 {
		return StackRegistry{}
	}
	addr := z.Hosts[0]
	for _, n := range c.Cluster.Nodes {
		if n.Hostname == addr && n.Address != "" {
			addr = n.Address
		}
	}
	r := StackRegistry{Host: net.JoinHostPort(addr, strconv.Itoa(component.RegistryPort)), PlainHTTP: true}
	if z.Auth != "" && z.Auth != "none" {
		r.Username = zotRef("username")
		r.Password = zotRef("password")
	}
	return r
}

func zotRef(key string) string {
	return secrets.Ref{Path: secrets.CoreNamespace + "/zot", Key: key}.String()
}

// ArgoCDRegistryCreds is the key of the repository-credentials template
// for the stack's registry; the chart names its Secret
// argocd-repo-creds-<key>.
const ArgoCDRegistryCreds = "foundry-registry"

// ArgoCDValues: the stack's registry as a repository-credentials
// template (a Secret labelled argocd.argoproj.io/secret-type: repo-creds),
// so every Application whose source is under oci://<registry>/ pulls
// with the stack's credentials, and HA when configured (redis-ha and more
// replicas, as the chart's own HA example does).
func ArgoCDValues(c config.ArgoCD, reg StackRegistry) Values {
	v := Values{}
	if reg.Host != "" {
		creds := Values{"url": "oci://" + reg.Host, "type": "oci", "name": "foundry-registry"}
		if reg.PlainHTTP {
			creds["insecureOCIForceHttp"] = "true"
		}
		if reg.Username != "" {
			creds["username"], creds["password"] = reg.Username, reg.Password
		}
		v["configs"] = Values{"credentialTemplates": Values{ArgoCDRegistryCreds: creds}}
	}
	if c.HA {
		v["redis-ha"] = Values{"enabled": true}
		v["controller"] = Values{"replicas": 1}
		v["server"] = Values{"replicas": 2}
		v["repoServer"] = Values{"replicas": 2}
		v["applicationSet"] = Values{"replicas": 2}
	}
	return v
}
