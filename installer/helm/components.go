package helm

import "fmt"

// Component is one cluster component: which chart it is, and where its
// release lives. Release names equal component names so `helm list -A`
// reads like `foundry stack status`.
type Component struct {
	Name      string // as in the stack config: grafana, cert-manager, ...
	Chart     string // the chart's own name (argo-cd for argocd)
	Namespace string
}

// Release is the Helm release name.
func (c Component) Release() string { return c.Name }

// Components lists the nine cluster components in installation order:
// what others depend on first (cert-manager before ingress, storage
// before backups, metrics and logs before Grafana).
func Components() []Component {
	return []Component{
		{Name: "cert-manager", Chart: "cert-manager", Namespace: "cert-manager"},
		{Name: "contour", Chart: "contour", Namespace: "projectcontour"},
		{Name: "external-dns", Chart: "external-dns", Namespace: "external-dns"},
		{Name: "prometheus", Chart: "prometheus", Namespace: "monitoring"},
		{Name: "loki", Chart: "loki", Namespace: "loki"},
		{Name: "grafana", Chart: "grafana", Namespace: "monitoring"},
		{Name: "minio", Chart: "minio", Namespace: "minio"},
		{Name: "velero", Chart: "velero", Namespace: "velero"},
		{Name: "argocd", Chart: "argo-cd", Namespace: "argocd"},
	}
}

// Lookup finds a cluster component by its config name.
func Lookup(name string) (Component, error) {
	for _, c := range Components() {
		if c.Name == name {
			return c, nil
		}
	}
	return Component{}, fmt.Errorf("%q is not a cluster component (Helm installs cert-manager, contour, external-dns, prometheus, loki, grafana, minio, velero and argocd)", name)
}
