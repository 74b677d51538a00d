package helm

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/foundry-fleet/foundry/controller/config"
)

// The issuers Foundry creates once cert-manager runs. Ingresses name
// them in cert-manager.io/cluster-issuer annotations, so the names are
// part of the stack's interface and do not change.
const (
	// SelfSignedIssuer signs only the CA certificate below.
	SelfSignedIssuer = "foundry-selfsigned"
	// CAIssuer issues the stack's internal certificates from the CA; it
	// works without internet, so it is always there.
	CAIssuer = "foundry-ca"
	// CASecret holds the CA's certificate and key, in the cert-manager
	// namespace (where ClusterIssuers read their secrets).
	CASecret = "foundry-ca"
	// ContourIngressClass is the IngressClass the contour chart creates;
	// ACME HTTP-01 challenges are answered through it.
	ContourIngressClass = "contour"
)

// ACME directories of the issuer names the config accepts.
var acmeServers = map[string]string{
	"letsencrypt":         "https://acme-v02.api.letsencrypt.org/directory",
	"letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}

// Issuers are the cert-manager resources for c: a self-signed CA
// (a self-signed ClusterIssuer, the CA Certificate it signs, and a CA
// ClusterIssuer from that certificate), and an ACME ClusterIssuer named
// after c.Issuer when it is an ACME one. They are custom resources, so
// they are applied after cert-manager's CRDs and webhook are up, not
// rendered into its chart.
//
// With issuer none Foundry creates no issuer: the site brings its own (and
// a cluster whose webhooks cannot answer, like the e2e k3s stand-in's
// simulated pods, can still install cert-manager).
func Issuers(c config.CertManager, cluster, namespace string) ([]*unstructured.Unstructured, error) {
	if c.Issuer == "none" {
		return nil, nil
	}
	cn := "Foundry CA"
	if cluster != "" {
		cn = "Foundry CA (" + cluster + ")"
	}
	out := []*unstructured.Unstructured{
		clusterIssuer(SelfSignedIssuer, map[string]any{"selfSigned": map[string]any{}}),
		cmObject("Certificate", CASecret, namespace, map[string]any{
			"isCA":       true,
			"commonName": cn,
			"secretName": CASecret,
			"duration":   "87600h", // ten years: re-keying a CA means re-issuing everything
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
			"issuerRef":  map[string]any{"name": SelfSignedIssuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
		}),
		clusterIssuer(CAIssuer, map[string]any{"ca": map[string]any{"secretName": CASecret}}),
	}
	server := acmeServers[c.Issuer]
	if c.Issuer == "acme" {
		server = c.ACMEServer
	}
	if server == "" {
		return out, nil
	}
	if c.Email == "" {
		return nil, fmt.Errorf("cert-manager issuer %s needs an email; set components.cert-manager.email", c.Issuer)
	}
	out = append(out, clusterIssuer(c.Issuer, map[string]any{"acme": map[string]any{
		"email":               c.Email,
		"server":              server,
		"privateKeySecretRef": map[string]any{"name": c.Issuer + "-account-key"},
		"solvers": []any{map[string]any{"http01": map[string]any{
			"ingress": map[string]any{"ingressClassName": ContourIngressClass},
		}}},
	}}))
	return out, nil
}

func clusterIssuer(name string, spec map[string]any) *unstructured.Unstructured {
	return cmObject("ClusterIssuer", name, "", spec)
}

func cmObject(kind, name, namespace string, spec map[string]any) *unstructured.Unstructured {
	meta := map[string]any{
		"name":   name,
		"labels": map[string]any{"app.kubernetes.io/managed-by": FieldManager},
	}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1",
		"kind":       kind,
		"metadata":   meta,
		"spec":       spec,
	}}
}
