// Package kubeapi tests installer/kube and installer/access (users,
// grants, service accounts, client certificates through the CSR API)
// against a real Kubernetes API: the k3s STAND-IN (e2e/k3s-standin: real
// kube-apiserver, controller-manager with the csrsigning and token
// controllers, scheduler and embedded etcd; kwok simulates the kubelet,
// so pods turn Running but no container runs). OpenBAO is the TEST
// DOUBLE from e2e/doubles/openbao. It starts the stand-in as plain processes
// on loopback addresses, so it needs no test hosts; it runs with the other
// e2e packages (`make e2e`).
package kubeapi
