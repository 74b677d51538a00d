package controller_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

func servedSerial(t *testing.T, nc *nats.Conn) string {
	t.Helper()
	cs, err := nc.TLSConnectionState()
	if err != nil || len(cs.PeerCertificates) == 0 {
		t.Fatalf("no TLS state: %v", err)
	}
	return cs.PeerCertificates[0].SerialNumber.Text(16)
}

func TestRotateCertsServesNewCertificateWithoutRestart(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	agents := ct.StartAgents(t, c, admin, "web", 2)
	ct.WaitOnline(t, admin, 2)
	before := servedSerial(t, admin.Conn())

	res, err := admin.RotateCerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Serial == before || len(res.Names) == 0 {
		t.Fatalf("rotation kept serial %s: %+v", before, res)
	}
	// The connection that asked is still up (no restart), new ones get
	// the new certificate, which chains to the same pinned CA.
	if _, err := admin.HostList(t.Context()); err != nil {
		t.Fatalf("existing connection broke: %v", err)
	}
	fresh := ct.Client(t, c)
	if got := servedSerial(t, fresh.Conn()); got != res.Serial {
		t.Fatalf("new connection got certificate %s, want %s", got, res.Serial)
	}
	// Agents keep working, including after they reconnect: kick them and
	// they come back over TLS with the new certificate, no change on the
	// hosts.
	cz, _ := c.Server().Connz(&server.ConnzOptions{})
	for _, ci := range cz.Conns {
		if strings.HasPrefix(ci.Name, "foundry-agent:") {
			_ = c.Server().DisconnectClientByID(ci.Cid)
		}
	}
	ct.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		st, err := fresh.FleetStatus(t.Context(), messages.FleetStatusRequest{Hosts: []string{agents[0].ID, agents[1].ID}, TimeoutMs: 2000})
		if err != nil || len(st.Responded) != 2 {
			return fmt.Errorf("agents after certificate rotation: %+v %v", st, err)
		}
		return nil
	})
	// The files on disk hold the new certificate, so a restart serves it.
	cert, err := tls.LoadX509KeyPair(filepath.Join(dataDir(c), pki.CertFile), filepath.Join(dataDir(c), pki.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	if leaf.SerialNumber.Text(16) != res.Serial {
		t.Fatal("rotated certificate was not written to the data directory")
	}
}

func dataDir(c *controller.Controller) string { return filepath.Dir(c.AdminCredsPath()) }

func TestInitCreatesKeysWithoutServingAndStartUsesThem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	res, err := controller.Init(controller.InitOptions{DataDir: dir, Advertise: []string{"ctl.example", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{
		controller.SigningKeyFile: 0o600, controller.AdminCredsFile: 0o600, pki.CAKeyFile: 0o600, pki.KeyFile: 0o600,
		pki.CAFile: 0o644, pki.CertFile: 0o644,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v mode %v, want %v", name, err, st, mode)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err == nil {
		t.Error("init started JetStream")
	}
	again, err := controller.Init(controller.InitOptions{DataDir: dir, Advertise: []string{"ctl.example", "127.0.0.1"}})
	if err != nil || again.SigningKey != res.SigningKey || again.AdminKey != res.AdminKey || again.CertSerial != res.CertSerial {
		t.Fatalf("init is not idempotent: %+v vs %+v (%v)", again, res, err)
	}
	c := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir; o.Advertise = []string{"127.0.0.1", "ctl.example"} })
	if c.TrustedKeys()[0] != res.SigningKey {
		t.Fatal("the started controller made a new signing key instead of using init's")
	}
	if _, err := ct.ClientAs(t, c, res.AdminCreds); err != nil {
		t.Fatalf("init's admin credentials refused: %v", err)
	}
}

// A client may present any certificate: client authentication is off, so
// the server never asks for one, and it grants nothing. What decides is
// the NKey, and an NKey carries only its own permissions.
func TestCertificateFromAnotherCAGrantsNothing(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	agentCfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	foreign := foreignClientCert(t)
	pool, _ := pki.Pool(c.CAPEM())
	withCert := nats.Secure(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{foreign}, MinVersion: tls.VersionTLS12})

	if nc, err := nats.Connect(c.URLs()[0], withCert, nats.NoReconnect(), nats.Timeout(3*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client with a certificate but no NKey connected")
	}
	stranger, _ := nkeys.CreateUser()
	spub, _ := stranger.PublicKey()
	if nc, err := nats.Connect(c.URLs()[0], withCert, nats.Nkey(spub, stranger.Sign), nats.NoReconnect(), nats.Timeout(3*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client with a certificate and an unknown NKey connected")
	}
	// With a valid agent NKey the connection works, and is exactly as
	// confined as without the certificate.
	kp := keyPair(t, agentCfg.NKeyFile)
	pub, _ := kp.PublicKey()
	errs := make(chan error, 4)
	nc, err := nats.Connect(c.URLs()[0], withCert, nats.Nkey(pub, kp.Sign), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("valid NKey refused because of a foreign client certificate: %v", err)
	}
	defer nc.Close()
	if err := nc.Publish(messages.APIHostRemove, []byte(`{"host":"web-1"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("unexpected error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the certificate widened the agent's permissions")
	}
	// And a client that trusts the foreign CA instead of the controller's
	// refuses the controller: CLIs and agents pin the CA.
	fpool := x509.NewCertPool()
	fpool.AddCert(mustLeaf(t, foreign))
	if nc, err := nats.Connect(c.URLs()[0], nats.Secure(&tls.Config{RootCAs: fpool, MinVersion: tls.VersionTLS12}),
		nats.Nkey(pub, kp.Sign), nats.NoReconnect(), nats.Timeout(3*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client pinning another CA accepted the controller's certificate")
	}
}

// foreignClientCert is a self-signed client certificate from a CA the
// controller has never seen.
func foreignClientCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mallory"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func mustLeaf(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestConnectionLimitsPerIdentity(t *testing.T) {
	c := ct.StartController(t, func(o *controller.Options) { o.MaxConnsPerOperator = 3 })
	admin := ct.Client(t, c) // 1 of 3 admin connections
	agentCfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())

	var agentConns []*nats.Conn
	for i := range controller.DefaultMaxConnsPerAgent {
		nc, err := connectAs(t, c, agentCfg.NKeyFile)
		if err != nil {
			t.Fatalf("agent connection %d of %d refused: %v", i+1, controller.DefaultMaxConnsPerAgent, err)
		}
		agentConns = append(agentConns, nc)
	}
	if _, err := connectAs(t, c, agentCfg.NKeyFile); err == nil {
		t.Fatalf("agent identity got connection %d", controller.DefaultMaxConnsPerAgent+1)
	}
	// Closing one frees its slot.
	agentConns[0].Close()
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		nc, err := connectAs(t, c, agentCfg.NKeyFile)
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	})
	// Operators: 3 allowed, the 4th refused, and other identities are
	// not affected by one identity being at its limit.
	for range 2 {
		if _, err := ct.ClientAs(t, c, c.AdminCredsPath()); err != nil {
			t.Fatalf("admin connection within the limit refused: %v", err)
		}
	}
	if _, err := ct.ClientAs(t, c, c.AdminCredsPath()); err == nil {
		t.Fatal("a 4th admin connection was accepted with a limit of 3")
	}
	other := ct.CreateOperator(t, admin, "other", controller.RoleReadOnly)
	if _, err := ct.ClientAs(t, c, other); err != nil {
		t.Fatalf("another operator refused while admin is at its limit: %v", err)
	}
	ops, _ := admin.ListOperators(t.Context())
	for _, op := range ops.Operators {
		if op.Name == "admin" && op.Connections != 3 {
			t.Fatalf("admin has %d live connections, want 3", op.Connections)
		}
	}
}
