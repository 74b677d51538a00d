// Package kubeapi tests installer/kube against a real Kubernetes API: the
// k3s STAND-IN (e2e/k3s-standin: real kube-apiserver, controller-manager,
// scheduler and embedded etcd; kwok simulates the kubelet, so pods turn
// Running but no container runs). It starts the stand-in as plain processes
// on loopback addresses, so it needs no test hosts; it runs with the other
// e2e packages (`make e2e`).
package kubeapi
