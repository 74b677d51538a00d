package helm_test

import (
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/helm"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func byKindName(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[o.GetKind()+"/"+o.GetName()] = o
	}
	return out
}

// TestIssuersSelfSignedCAByDefault: with no issuer configured, the
// issuers are a self-signed ClusterIssuer, the CA Certificate it signs
// (in cert-manager's namespace), and a CA ClusterIssuer on that
// certificate's Secret, in that order (each needs the one before).
func TestIssuersSelfSignedCAByDefault(t *testing.T) {
	for _, issuer := range []string{"", "selfsigned"} {
		objs, err := helm.Issuers(config.CertManager{Issuer: issuer}, "prod", "cert-manager")
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, o := range objs {
			order = append(order, o.GetKind()+"/"+o.GetName())
		}
		want := "ClusterIssuer/foundry-selfsigned Certificate/foundry-ca ClusterIssuer/foundry-ca"
		if strings.Join(order, " ") != want {
			t.Fatalf("issuer %q: %v, want %s", issuer, order, want)
		}
		m := byKindName(objs)
		if _, ok, _ := unstructured.NestedMap(m["ClusterIssuer/foundry-selfsigned"].Object, "spec", "selfSigned"); !ok {
			t.Error("the self-signed issuer has no spec.selfSigned")
		}
		ca := m["Certificate/foundry-ca"]
		isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA")
		secret, _, _ := unstructured.NestedString(ca.Object, "spec", "secretName")
		ref, _, _ := unstructured.NestedString(ca.Object, "spec", "issuerRef", "name")
		kind, _, _ := unstructured.NestedString(ca.Object, "spec", "issuerRef", "kind")
		cn, _, _ := unstructured.NestedString(ca.Object, "spec", "commonName")
		if !isCA || secret != helm.CASecret || ref != helm.SelfSignedIssuer || kind != "ClusterIssuer" || ca.GetNamespace() != "cert-manager" || !strings.Contains(cn, "prod") {
			t.Errorf("CA certificate: %v", ca.Object)
		}
		caSecret, _, _ := unstructured.NestedString(m["ClusterIssuer/foundry-ca"].Object, "spec", "ca", "secretName")
		if caSecret != helm.CASecret {
			t.Errorf("CA issuer reads %q, want the CA certificate's Secret %s", caSecret, helm.CASecret)
		}
		for _, o := range objs {
			if o.GetAPIVersion() != "cert-manager.io/v1" || o.GetLabels()["app.kubernetes.io/managed-by"] != helm.FieldManager {
				t.Errorf("%s: apiVersion %s labels %v", o.GetName(), o.GetAPIVersion(), o.GetLabels())
			}
		}
	}
}

// TestIssuersACMEWhenConfigured: an ACME issuer comes in addition to the
// CA, named after the config's issuer, with the account email, the
// directory, and HTTP-01 answered through Contour's ingress class.
func TestIssuersACMEWhenConfigured(t *testing.T) {
	for _, tc := range []struct {
		cm     config.CertManager
		server string
	}{
		{config.CertManager{Issuer: "letsencrypt", Email: "ops@example.com"}, "https://acme-v02.api.letsencrypt.org/directory"},
		{config.CertManager{Issuer: "letsencrypt-staging", Email: "ops@example.com"}, "https://acme-staging-v02.api.letsencrypt.org/directory"},
		{config.CertManager{Issuer: "acme", Email: "ops@example.com", ACMEServer: "https://ca.internal/acme/directory"}, "https://ca.internal/acme/directory"},
	} {
		objs, err := helm.Issuers(tc.cm, "prod", "cert-manager")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 4 {
			t.Fatalf("%s: %d objects, want the CA's 3 and the ACME issuer", tc.cm.Issuer, len(objs))
		}
		acme := byKindName(objs)["ClusterIssuer/"+tc.cm.Issuer]
		if acme == nil {
			t.Fatalf("no ClusterIssuer %s", tc.cm.Issuer)
		}
		spec, _, _ := unstructured.NestedMap(acme.Object, "spec", "acme")
		solvers, _, _ := unstructured.NestedSlice(spec, "solvers")
		if spec["email"] != "ops@example.com" || spec["server"] != tc.server || len(solvers) != 1 {
			t.Errorf("%s: acme spec %v", tc.cm.Issuer, spec)
			continue
		}
		if got, _, _ := unstructured.NestedString(solvers[0].(map[string]any), "http01", "ingress", "ingressClassName"); got != helm.ContourIngressClass {
			t.Errorf("%s: solver ingress class %q, want %s", tc.cm.Issuer, got, helm.ContourIngressClass)
		}
		if key, _, _ := unstructured.NestedString(spec, "privateKeySecretRef", "name"); key == "" {
			t.Errorf("%s: no account key Secret", tc.cm.Issuer)
		}
	}
	if _, err := helm.Issuers(config.CertManager{Issuer: "letsencrypt"}, "prod", "cert-manager"); err == nil || !strings.Contains(err.Error(), "email") {
		t.Errorf("ACME without email: %v", err)
	}
}

func TestPostInstallOnlyCertManager(t *testing.T) {
	cfg := fullStack()
	for _, c := range helm.Components() {
		objs, err := helm.PostInstall(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if (len(objs) > 0) != (c.Name == "cert-manager") {
			t.Errorf("%s: %d post-install objects", c.Name, len(objs))
		}
	}
}

// TestIssuersNoneCreatesNothing: issuer none is a site that brings its
// own issuers; nothing is applied after cert-manager's release.
func TestIssuersNoneCreatesNothing(t *testing.T) {
	objs, err := helm.Issuers(config.CertManager{Issuer: "none"}, "prod", "cert-manager")
	if err != nil || len(objs) != 0 {
		t.Fatalf("issuer none: %d objects, %v; want none", len(objs), err)
	}
}
