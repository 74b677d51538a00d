package helmtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// TestIssuersServerSideApplyOnK3sStandin applies cert-manager's issuers
// to a real API server with the CRDs of the real chart, which validates
// them against the CRDs' schemas (server-side apply is strict about
// unknown fields). The stand-in runs no pods, so cert-manager's webhook
// is left out: the CRDs are applied on their own, as the chart renders
// them, and the issuers never become Ready; only what the API server
// does is tested here.
func TestIssuersServerSideApplyOnK3sStandin(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Kubernetes control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	certTgz := chartstest.Archive(t, chartstest.Files()["cert-manager"])
	s := startStandin(t)
	kubeconfig := s.waitNodeReady(ctx, t)
	getter, err := helm.NewGetter(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := clientFrom(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	comp, _ := helm.Lookup("cert-manager")
	cfg := &config.Config{Cluster: config.Cluster{Name: "prod"}, Components: config.Components{
		CertManager: &config.CertManager{Issuer: "letsencrypt-staging", Email: "ops@example.com"}}}
	issuers, err := helm.PostInstall(comp, cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Before cert-manager: a bounded wait, then an error naming the object.
	start := time.Now()
	_, err = helm.Apply(ctx, getter, issuers, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "ClusterIssuer/foundry-selfsigned") || !strings.Contains(err.Error(), "did not accept it within 3s") {
		t.Fatalf("apply without cert-manager's CRDs: %v, want a timeout naming the first issuer", err)
	}
	if waited := time.Since(start); waited > time.Minute {
		t.Errorf("apply without CRDs returned after %s, want about its 3s timeout", waited)
	}

	// The chart's own CRDs (crds.enabled, as CertManagerValues sets).
	ch, err := helm.LoadChart(certTgz, "cert-manager", "v1.21.1")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := helm.Render(ch, helm.CertManagerValues(config.CertManager{}), helm.RenderOptions{Namespace: comp.Namespace, Release: comp.Release(), KubeVersion: "1.35.0"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := helm.Objects(helm.ReleaseText(rel), comp.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	var crds []*unstructured.Unstructured
	for _, o := range objs {
		if o.Kind == "CustomResourceDefinition" {
			crds = append(crds, &unstructured.Unstructured{Object: o.Body})
		}
	}
	if len(crds) < 6 {
		t.Fatalf("%d CRDs rendered, want cert-manager's 6", len(crds))
	}
	if _, err := helm.Apply(ctx, getter, crds, time.Minute); err != nil {
		t.Fatalf("apply CRDs: %v", err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: comp.Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// First apply: every object created, the CRDs becoming served while
	// it retries.
	applied, err := helm.Apply(ctx, getter, issuers, 2*time.Minute)
	if err != nil {
		t.Fatalf("apply issuers: %v", err)
	}
	if len(applied) != 4 {
		t.Fatalf("applied %v, want 4 objects", applied)
	}
	for _, a := range applied {
		if !a.Changed {
			t.Errorf("first apply of %s: not changed", a.ID)
		}
	}
	clusterIssuers := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "clusterissuers"})
	certificates := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"})
	ca, err := clusterIssuers.Get(ctx, helm.CAIssuer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(ca.Object, "spec", "ca", "secretName"); got != helm.CASecret {
		t.Errorf("CA issuer secretName %q", got)
	}
	cert, err := certificates.Namespace(comp.Namespace).Get(ctx, helm.CASecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if isCA, _, _ := unstructured.NestedBool(cert.Object, "spec", "isCA"); !isCA {
		t.Error("the CA Certificate is not isCA")
	}
	acme, err := clusterIssuers.Get(ctx, "letsencrypt-staging", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	solvers, _, _ := unstructured.NestedSlice(acme.Object, "spec", "acme", "solvers")
	if len(solvers) != 1 {
		t.Fatalf("acme solvers %v", solvers)
	}
	if class, _, _ := unstructured.NestedString(solvers[0].(map[string]any), "http01", "ingress", "ingressClassName"); class != helm.ContourIngressClass {
		t.Errorf("acme solver ingress class %q", class)
	}

	// Re-run: nothing changes.
	applied, err = helm.Apply(ctx, getter, issuers, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applied {
		if a.Changed {
			t.Errorf("re-apply changed %s", a.ID)
		}
	}

	// Someone edits the CA issuer under another manager: a re-run takes
	// Foundry's field back and changes only that object.
	if err := unstructured.SetNestedField(ca.Object, "someone-else", "spec", "ca", "secretName"); err != nil {
		t.Fatal(err)
	}
	if _, err := clusterIssuers.Update(ctx, ca, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	applied, err = helm.Apply(ctx, getter, issuers, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applied {
		if a.Changed != (a.ID == "ClusterIssuer/"+helm.CAIssuer) {
			t.Errorf("re-apply after an edit: %s changed=%v", a.ID, a.Changed)
		}
	}
	ca, err = clusterIssuers.Get(ctx, helm.CAIssuer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(ca.Object, "spec", "ca", "secretName"); got != helm.CASecret {
		t.Errorf("after re-apply the CA issuer reads %q, want %s back", got, helm.CASecret)
	}

	// An object the CRD's schema refuses is an error at once, not a wait.
	bad := issuers[0].DeepCopy()
	bad.Object["spec"] = map[string]any{"selfSigned": map[string]any{}, "notAField": true}
	start = time.Now()
	if _, err := helm.Apply(ctx, getter, []*unstructured.Unstructured{bad}, time.Minute); err == nil || !strings.Contains(err.Error(), "notAField") {
		t.Errorf("apply with an unknown field: %v, want the API server's strict-field error", err)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Errorf("a refused object was retried for %s", waited)
	}
}
