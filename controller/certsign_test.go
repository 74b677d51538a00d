package controller_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func csr(t *testing.T, dnsNames ...string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "anything"}, DNSNames: dnsNames}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

// The controller signs a service certificate for the names the request
// states (not those inside the CSR) with the CA agents and CLIs pin, for
// admins only, and never sees the private key.
func TestSignCertIssuesAServerCertificateFromFoundrysCA(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := context.Background()
	req, key := csr(t, "evil.example.com")
	res, err := admin.SignCert(ctx, messages.CertSignRequest{CSRPEM: req, Service: "openbao", Names: []string{"bao1", "bao1.example.com", "10.77.0.11", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode([]byte(res.CertPEM))
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM()) || res.CAPEM != string(c.CAPEM()) {
		t.Fatal("result does not carry the controller's CA")
	}
	for _, name := range []string{"bao1.example.com", "10.77.0.11", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("certificate does not verify for %s: %v", name, err)
		}
	}
	if slices.Contains(leaf.DNSNames, "evil.example.com") || leaf.IsCA || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Fatalf("certificate grants more than asked: %v CA=%v %v", leaf.DNSNames, leaf.IsCA, leaf.ExtKeyUsage)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatal("certificate is not for the requested key")
	}

	for _, bad := range []messages.CertSignRequest{
		{CSRPEM: "not pem", Service: "openbao", Names: []string{"x"}},
		{CSRPEM: req, Service: "openbao", Names: nil},
		{CSRPEM: req, Service: "openbao", Names: []string{"bad name"}},
		{CSRPEM: req, Service: "Open BAO", Names: []string{"x"}},
	} {
		if _, err := admin.SignCert(ctx, bad); err == nil {
			t.Errorf("%+v was signed", bad)
		}
	}

	ro, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.SignCert(ctx, messages.CertSignRequest{CSRPEM: req, Service: "openbao", Names: []string{"x"}}); err == nil ||
		!strings.Contains(err.Error(), "may not call "+messages.APICertSign) {
		t.Fatalf("read-only operator: %v", err)
	}
}
