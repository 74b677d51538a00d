// Package access is Foundry's user and service-account model: a user is
// an OpenBAO entity with an alias in an auth method Foundry enables
// (userpass), a named ACL policy for the user's own secret paths, and
// Kubernetes RBAC bindings for the same name; a service account is a
// Kubernetes ServiceAccount with a bound token Secret and a binding.
//
// A user's Kubernetes credentials are a client certificate issued through
// the cluster's CSR API (certificates.k8s.io/v1, signer
// kubernetes.io/kube-apiserver-client): Foundry makes the key, creates and
// approves the request, waits for the certificate, and stores the
// assembled kubeconfig in OpenBAO under the user's path. The private key
// never leaves this process except inside that secret.
//
// Every change is validated in full before the first write (role, name,
// permissions against the API's discovery, namespace, existing user), and
// what a failed create did is undone, so a refused or failed command
// leaves nothing half-made. Objects Foundry makes carry the label
// app.kubernetes.io/managed-by=foundry and foundry.dev/rbac-subject, which
// is how `rbac list` finds Kubernetes' side of the join.
//
// Kubernetes code lives here, under installer/, and not in the controller.
package access
