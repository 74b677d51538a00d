// Package kube is Foundry's access to a cluster's Kubernetes API: where the
// admin kubeconfig and the join token are kept, and the client-go calls the
// `cluster` commands and other installer packages (Helm) need: nodes,
// readiness, status, cordon, drain and node deletion.
//
// Everything Kubernetes goes through client-go with the stored kubeconfig,
// never through the agents: the agent binary stays small and must not link
// this package (only cmd/foundry and installer/ packages import it).
//
// Waiting is done with watches, so a wait ends as soon as the API says so,
// and a wait that runs out of time names what it was still waiting for and
// why, in the API's own words.
package kube
