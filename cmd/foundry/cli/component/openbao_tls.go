package component

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

// certSigner is the controller's cert.sign API.
type certSigner interface {
	SignCert(ctx context.Context, req messages.CertSignRequest) (messages.CertSignResult, error)
}

// renewBefore is how long before expiry an install replaces the
// certificate rather than reusing it.
const renewBefore = 30 * 24 * time.Hour

// tlsDir keeps OpenBAO's certificate and key between runs (key 0600,
// like the unseal keys beside it): reusing them is what lets a re-run
// change nothing on the host and not restart (and so seal) OpenBAO.
func tlsDir(home string) string { return filepath.Join(home, "openbao", "tls") }

// openbaoNames are the names clients reach OpenBAO by: each host's id,
// its configured name and the address it was added with, the address
// Foundry's config names, and loopback for the agent's health check.
func openbaoNames(cfg *stackconfig.Config, hosts []string, addrs map[string]string) []string {
	names := []string{"127.0.0.1", "localhost"}
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if b := cfg.Components.OpenBAO; b != nil {
		for _, h := range b.Hosts {
			add(h)
		}
	}
	for _, h := range hosts {
		add(h)
		add(addrs[h])
	}
	if u, err := url.Parse(cfg.OpenBAOAddress()); err == nil {
		add(u.Hostname())
	}
	return names
}

// serviceCert returns OpenBAO's certificate and key: the kept pair when it
// still covers names, is signed by the CA in use and has time left, else
// a new key made here and a certificate the controller signs for it. The
// key never goes to the controller; it leaves this machine only inside
// the signed service_apply command.
func serviceCert(ctx context.Context, dir string, signer certSigner, ca []byte, names []string) (certPEM, keyPEM, caPEM []byte, err error) {
	certPEM, _ = os.ReadFile(filepath.Join(dir, comp.OpenBAOCertFile))
	keyPEM, _ = os.ReadFile(filepath.Join(dir, comp.OpenBAOKeyFile))
	kept, _ := os.ReadFile(filepath.Join(dir, pki.CAFile))
	if ca == nil {
		ca = kept
	}
	if usable(certPEM, keyPEM, ca, names) {
		return certPEM, keyPEM, ca, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "foundry-openbao"}}, key)
	if err != nil {
		return nil, nil, nil, err
	}
	res, err := signer.SignCert(ctx, messages.CertSignRequest{Service: "openbao", Names: names,
		CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("have the controller sign OpenBAO's TLS certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certPEM, caPEM = []byte(res.CertPEM), []byte(res.CAPEM)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{comp.OpenBAOKeyFile, keyPEM, 0o600}, {comp.OpenBAOCertFile, certPEM, 0o644}, {pki.CAFile, caPEM, 0o644}} {
		if err := pki.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, nil, nil, fmt.Errorf("keep OpenBAO's TLS files in %s: %w", dir, err)
		}
	}
	return certPEM, keyPEM, caPEM, nil
}

func usable(certPEM, keyPEM, caPEM []byte, names []string) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || len(caPEM) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(leaf.NotAfter) < renewBefore {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false
	}
	for _, n := range names {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: n, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return false
		}
	}
	return true
}

// readCA is the CA file's content, nil when there is none to read.
func readCA(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// prepareOpenBAO adds the listener's certificate and key to the target,
// for apply and plan alike (a plan without them would show the files
// removed). Plan may thus have the controller sign a certificate, which
// changes nothing on any host.
func prepareOpenBAO(ctx context.Context, e Env, cl *client.Client, t comp.Target) (comp.Target, error) {
	home, err := e.Home()
	if err != nil {
		return t, err
	}
	cfg, err := e.Stack()
	if err != nil {
		return t, err
	}
	addrs, err := hostAddresses(ctx, cl, t.Desired.Hosts)
	if err != nil {
		return t, err
	}
	ca, err := readCA(e.caFile())
	if err != nil {
		return t, err
	}
	cert, key, _, err := serviceCert(ctx, tlsDir(home), cl, ca, openbaoNames(cfg, t.Desired.Hosts, addrs))
	if err != nil {
		return t, err
	}
	return comp.WithOpenBAOTLS(t, string(cert), string(key))
}

// openbaoCA is the CA file the CLI checks OpenBAO's certificate with:
// Foundry's CA as the CLI knows it, else the one kept with the
// certificate when it was signed.
func openbaoCA(e Env, home string) string {
	if p := e.caFile(); p != "" {
		return p
	}
	p := filepath.Join(tlsDir(home), pki.CAFile)
	if _, err := os.Stat(p); err != nil {
		return "" // the system's roots, for an OpenBAO Foundry did not install
	}
	return p
}

// OpenBAOCAFile is openbaoCA for the other CLI nouns that talk to the
// OpenBAO Foundry installed (cluster, secret).
func OpenBAOCAFile(e Env) string {
	home, err := e.Home()
	if err != nil {
		return e.caFile()
	}
	return openbaoCA(e, home)
}
