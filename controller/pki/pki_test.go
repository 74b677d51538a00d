package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestEnsureCreatesOnceAndReissuesForNewNames(t *testing.T) {
	dir := t.TempDir()
	m1, err := Ensure(dir, []string{"127.0.0.1", "ctl.example"})
	if err != nil {
		t.Fatal(err)
	}
	for f, mode := range map[string]os.FileMode{CAKeyFile: 0o600, KeyFile: 0o600, CAFile: 0o644, CertFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	m2, err := Ensure(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !m1.CA.Equal(m2.CA) || string(m1.Server.Certificate[0]) != string(m2.Server.Certificate[0]) {
		t.Fatal("second start changed the CA or certificate although names are covered")
	}
	m3, err := Ensure(dir, []string{"127.0.0.1", "10.77.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !m1.CA.Equal(m3.CA) {
		t.Fatal("adding a name replaced the CA; agents would lose trust")
	}
	leaf, _ := x509.ParseCertificate(m3.Server.Certificate[0])
	if err := leaf.VerifyHostname("10.77.0.1"); err != nil {
		t.Fatalf("new name not in certificate: %v", err)
	}
}

func TestClientsPinningAnotherCAAreRefused(t *testing.T) {
	ours, err := Ensure(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := Ensure(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ours.Server}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(caPEM []byte) error {
		pool, err := Pool(caPEM)
		if err != nil {
			return err
		}
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(ours.CAPEM); err != nil {
		t.Fatalf("own CA refused: %v", err)
	}
	if err := dial(theirs.CAPEM); err == nil {
		t.Fatal("a client pinning another CA accepted the server")
	}
	if _, err := Pool([]byte("not pem")); err == nil {
		t.Fatal("garbage CA accepted")
	}
}

// Clustered controllers present their server certificate when they dial a
// peer's route port, and the peer requires one from the same CA: the
// certificate must serve both ends, and a certificate that cannot (issued
// before clustering) is reissued.
func TestServerCertificateServesBothEndsOfARoute(t *testing.T) {
	dirA := t.TempDir()
	a, err := Ensure(dirA, []string{"127.0.0.1", "ctl-a.example"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(a.Server.Certificate[0])
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Fatalf("server certificate usages %v", leaf.ExtKeyUsage)
	}
	// A second controller with the same CA (copied) and its own names.
	dirB := t.TempDir()
	for _, f := range []string{CAFile, CAKeyFile} {
		b, _ := os.ReadFile(filepath.Join(dirA, f))
		if err := os.WriteFile(filepath.Join(dirB, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Ensure(dirB, []string{"127.0.0.1", "ctl-b.example"})
	if err != nil {
		t.Fatal(err)
	}
	if lb, _ := x509.ParseCertificate(b.Server.Certificate[0]); lb.VerifyHostname("ctl-a.example") == nil || lb.VerifyHostname("ctl-b.example") != nil {
		t.Fatalf("B's certificate names %v", lb.DNSNames)
	}
	pool, _ := Pool(a.CAPEM)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{a.Server},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if c.(*tls.Conn).Handshake() == nil {
				_, _ = c.Write([]byte("ok"))
			}
			c.Close()
		}
	}()
	dial := func(cert tls.Certificate) error {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "ctl-a.example", Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 2))
		return err
	}
	if err := dial(b.Server); err != nil {
		t.Fatalf("peer with a certificate from the same CA refused: %v", err)
	}
	other, _ := Ensure(t.TempDir(), []string{"127.0.0.1"})
	if err := dial(other.Server); err == nil {
		t.Fatal("peer with a certificate from another CA accepted")
	}

	// A server-auth-only certificate (the layout before clustering) is
	// reissued by the next Ensure, from the same CA.
	dirC := t.TempDir()
	for _, f := range []string{CAFile, CAKeyFile} {
		b, _ := os.ReadFile(filepath.Join(dirA, f))
		_ = os.WriteFile(filepath.Join(dirC, f), b, 0o600)
	}
	m := &Material{}
	if err := m.loadOrCreateCA(dirC); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(srvValidty),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, m.CA, &key.PublicKey, m.caKey)
	keyPEM, _ := encodeKey(key)
	_ = WriteFile(filepath.Join(dirC, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	_ = WriteFile(filepath.Join(dirC, KeyFile), keyPEM, 0o600)
	c, err := Ensure(dirC, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if lc, _ := x509.ParseCertificate(c.Server.Certificate[0]); !slices.Contains(lc.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !c.CA.Equal(a.CA) {
		t.Fatal("old server-only certificate was not reissued from the same CA")
	}
}
