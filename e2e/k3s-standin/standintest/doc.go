// Package standintest tests the k3s STAND-IN binary from outside, as a
// plain process on loopback addresses: it runs the built binary (from
// FOUNDRY_E2E_K3S, else ../build.sh) and talks to it with client-go only,
// so its test binary stays small and does not link Kubernetes server code.
package standintest
