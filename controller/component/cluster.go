package component

import "github.com/foundry-fleet/foundry/controller/config"

// clusterComponents are the stack's Kubernetes components: Helm releases
// (installer/helm) that the CLI installs in this order after K3s.
func clusterComponents() []Component {
	c := func(name, desc string, requires []string, after []string, get func(*config.Components) (string, bool)) Component {
		return Component{Name: name, Description: desc, Placement: Cluster, Requires: requires, After: after,
			Desired: func(cfg *config.Config) (Desired, bool) {
				v, ok := get(&cfg.Components)
				return Desired{Version: v}, ok
			}}
	}
	k3s := []string{K3sName}
	return []Component{
		// MinIO is wanted only when the config asks for it: deploy true,
		// or auto (the default) while TrueNAS offers no S3.
		{Name: "minio", Description: "S3-compatible object storage", Placement: Cluster, Requires: k3s, After: []string{"zot"},
			Desired: func(cfg *config.Config) (Desired, bool) {
				if !cfg.MinIOWanted() {
					return Desired{}, false
				}
				return Desired{Version: cfg.Components.MinIO.Version}, true
			}},
		c("contour", "ingress controller", k3s, []string{"zot", "minio"}, func(cs *config.Components) (string, bool) {
			if cs.Contour == nil {
				return "", false
			}
			return cs.Contour.Version, true
		}),
		c("cert-manager", "TLS certificates", k3s, []string{"zot", "minio"}, func(cs *config.Components) (string, bool) {
			if cs.CertManager == nil {
				return "", false
			}
			return cs.CertManager.Version, true
		}),
		c("external-dns", "DNS records for services", k3s, []string{"zot", "minio"}, func(cs *config.Components) (string, bool) {
			if cs.ExternalDNS == nil {
				return "", false
			}
			return cs.ExternalDNS.Version, true
		}),
		c("prometheus", "metrics", k3s, []string{"contour", "cert-manager", "external-dns"}, func(cs *config.Components) (string, bool) {
			if cs.Prometheus == nil {
				return "", false
			}
			return cs.Prometheus.Version, true
		}),
		c("loki", "logs", k3s, []string{"contour", "cert-manager", "external-dns"}, func(cs *config.Components) (string, bool) {
			if cs.Loki == nil {
				return "", false
			}
			return cs.Loki.Version, true
		}),
		c("grafana", "dashboards", []string{"k3s", "prometheus"}, []string{"loki"}, func(cs *config.Components) (string, bool) {
			if cs.Grafana == nil {
				return "", false
			}
			return cs.Grafana.Version, true
		}),
		c("velero", "backup and restore", k3s, []string{"minio", "grafana"}, func(cs *config.Components) (string, bool) {
			if cs.Velero == nil {
				return "", false
			}
			return cs.Velero.Version, true
		}),
		c("argocd", "GitOps delivery", k3s, []string{"velero"}, func(cs *config.Components) (string, bool) {
			if cs.ArgoCD == nil {
				return "", false
			}
			return cs.ArgoCD.Version, true
		}),
	}
}

// K3sName is the catalog name of Kubernetes itself.
const K3sName = "k3s"

// K3s is a host service on every node of cluster.nodes, each node with a
// config of its own (server or agent, who joins whom), so it has no
// single Service: foundry cluster init renders and applies it per node
// (installer/k3s).
func K3s() Component {
	return Component{Name: K3sName, Description: "Kubernetes (K3s) on the cluster nodes, installed by agents (foundry cluster init)",
		Placement: Nodes, Requires: []string{"openbao"},
		Desired: func(cfg *config.Config) (Desired, bool) {
			k := cfg.Components.K3s
			if k == nil {
				return Desired{}, false
			}
			var hosts []string
			for _, n := range cfg.Cluster.Nodes {
				hosts = append(hosts, n.Hostname)
			}
			return Desired{Version: k.Version, Hosts: hostIDs(hosts)}, true
		},
		ArtifactFile: func(Desired) string { return "k3s" },
	}
}
