// Package helm installs the stack's cluster components (Contour,
// cert-manager, External-DNS, Prometheus, Loki, Grafana, Velero, MinIO,
// ArgoCD) as Helm releases through the Helm SDK, and watches their
// workloads with client-go until they are ready.
//
// It runs where the operator's CLI runs, never in the agent: the agent
// must stay small and has no kubeconfig. Nothing here keeps state of its
// own; Helm's release records in the cluster are the truth, so a re-run
// after an interruption converges. Kubeconfigs and resolved secrets stay
// in memory: nothing in this package writes either to disk.
package helm
