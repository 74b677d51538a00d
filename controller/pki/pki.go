// Package pki creates the controller's private CA and server certificate so
// that NATS is TLS-only from the first start, with nothing to buy or
// configure. Agents and CLIs pin the CA certificate.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the controller's data directory.
const (
	CAFile     = "ca.pem"
	CAKeyFile  = "ca.key"
	CertFile   = "server.pem"
	KeyFile    = "server.key"
	caValidity = 10 * 365 * 24 * time.Hour
	srvValidty = 2 * 365 * 24 * time.Hour
)

// Material is the loaded CA and server certificate.
type Material struct {
	CAPEM  []byte
	CA     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	Server tls.Certificate
}

// Ensure loads the CA and server certificate from dir, creating whatever is
// missing. The server certificate is reissued when it does not cover every
// name in names (for example after --advertise changed), so a config change
// never requires deleting files by hand.
func Ensure(dir string, names []string) (*Material, error) {
	m := &Material{}
	if err := m.loadOrCreateCA(dir); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err == nil && covers(cert, names) {
		m.Server = cert
		return m, nil
	}
	if err := m.Issue(dir, names); err != nil {
		return nil, err
	}
	return m, nil
}

// Issue writes a new server certificate for names signed by the CA. It is
// also what certificate rotation calls.
func (m *Material) Issue(dir string, names []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "foundry-controller"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(srvValidty),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// ServerAuth for clients and routes dialing in; ClientAuth
		// because a clustered controller presents the same certificate
		// when it dials a peer's route port, where the peer requires a
		// certificate from this CA (see ClusterTLS).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.CA, &key.PublicKey, m.caKey)
	if err != nil {
		return fmt.Errorf("sign server certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, CertFile), certPEM, 0o644); err != nil {
		return err
	}
	m.Server, err = tls.X509KeyPair(certPEM, keyPEM)
	return err
}

func (m *Material) loadOrCreateCA(dir string) error {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err1 == nil && err2 == nil {
		return m.parseCA(certPEM, keyPEM)
	}
	if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
		return fmt.Errorf("read CA: %w", err1)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Foundry controller CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create CA: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err = encodeKey(key)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, CAFile), certPEM, 0o644); err != nil {
		return err
	}
	return m.parseCA(certPEM, keyPEM)
}

func (m *Material) parseCA(certPEM, keyPEM []byte) error {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return errors.New("CA files in the data directory are not PEM; move them away to create a new CA")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return fmt.Errorf("parse CA key: %w", err)
	}
	m.CAPEM, m.CA, m.caKey = certPEM, cert, key
	return nil
}

// Pool returns a cert pool holding only the CA, which is what clients pin.
func Pool(caPEM []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("CA file holds no PEM certificate")
	}
	return p, nil
}

func covers(cert tls.Certificate, names []string) bool {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || time.Until(leaf.NotAfter) < 30*24*time.Hour {
		return false
	}
	// Certificates from before clustering lack ClientAuth; reissue them
	// once so routes can present them (clients pin the CA, not the
	// certificate, so nothing changes for them).
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return false
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
		} else if n != "" && !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	return true
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// WriteFile replaces path atomically with the given mode, so a crash never
// leaves a half-written key behind.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
