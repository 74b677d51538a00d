package pki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
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
