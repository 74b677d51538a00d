package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// connectAs opens a raw NATS connection with an agent's seed file, the way
// a compromised host could.
func connectAs(t *testing.T, c *controller.Controller, seedFile string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	opts = append(opts, nats.Nkey(pub, kp.Sign), nats.NoReconnect())
	if ca := ct.WriteCA(t, c); ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	nc, err := nats.Connect(c.URLs()[0], opts...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func TestAgentIdentityIsConfinedToItsOwnSubjects(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	a := ct.EnrollConfig(t, cl, c, "web-1", dir)
	ct.EnrollConfig(t, cl, c, "web-2", dir)

	errs := make(chan error, 16)
	nc, err := connectAs(t, c, a.NKeyFile, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("agent credentials refused: %v", err)
	}
	expectViolation := func(what string) {
		t.Helper()
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
				t.Fatalf("%s: unexpected error %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no permission violation reported", what)
		}
	}
	hb, _ := messages.HeartbeatSubject("web-2")
	nc.Publish(hb, []byte(`{}`))
	expectViolation("heartbeat as web-2")
	ev, _ := messages.EventSubject("web-2", "host_online")
	nc.Publish(ev, []byte(`{}`))
	expectViolation("event as web-2")
	cmd, _ := messages.CommandSubject("web-2")
	nc.Subscribe(cmd, func(*nats.Msg) {})
	expectViolation("subscribe to web-2 commands")
	nc.Publish(messages.BroadcastSubject(), []byte(`{}`))
	expectViolation("publish on broadcast command subject")
	nc.Publish(messages.APIHostEnroll, []byte(`{}`))
	expectViolation("call the operator API")
	// A broadcast reply names the host in its subject; web-1 may not
	// answer as web-2, nor listen to the replies of others.
	forged, _ := messages.BroadcastReplySubject(messages.ReplyPrefix+".nonce", "web-2")
	nc.Publish(forged, []byte(`{}`))
	expectViolation("broadcast reply as web-2")
	nc.Subscribe(messages.ReplyPrefix+".>", func(*nats.Msg) {})
	expectViolation("subscribe to broadcast replies")
	own, _ := messages.BroadcastReplySubject(messages.ReplyPrefix+".nonce", "web-1")
	nc.Publish(own, []byte(`{}`))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("broadcast reply as itself refused: %v", err)
	case <-time.After(200 * time.Millisecond): // a violation would arrive right after the flush's PONG
	}
	_ = nc.Flush()

	// The registry never learned about web-2 from web-1's forgery.
	hl, err := cl.HostList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hl.Hosts {
		if h.ID == "web-2" && (h.State != messages.StateEnrolled || h.LastSeen != 0) {
			t.Fatalf("forged heartbeat reached the registry: %+v", h)
		}
	}
}

func TestUnknownAndRevokedIdentitiesCannotConnect(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	stranger := filepath.Join(dir, "stranger.nk")
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	os.WriteFile(stranger, seed, 0o600)
	if _, err := connectAs(t, c, stranger); err == nil {
		t.Fatal("an unenrolled key connected")
	}
	// Re-enrolling a host with a new key revokes and disconnects the old one.
	old := ct.EnrollConfig(t, cl, c, "web-1", dir)
	nc, err := connectAs(t, c, old.NKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ct.EnrollConfig(t, cl, c, "web-1", t.TempDir())
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !nc.IsClosed() {
			return fmt.Errorf("old connection still open")
		}
		return nil
	})
	if _, err := connectAs(t, c, old.NKeyFile); err == nil {
		t.Fatal("revoked key connected again")
	}
}

func TestPlainTCPClientIsRefused(t *testing.T) {
	c := ct.StartController(t)
	url := strings.Replace(c.URLs()[0], "tls://", "nats://", 1)
	kp, _ := nkeys.FromSeed(mustRead(t, c.AdminCredsPath()))
	pub, _ := kp.PublicKey()
	if nc, err := nats.Connect(url, nats.Nkey(pub, kp.Sign), nats.NoReconnect(), nats.Timeout(3*time.Second)); err == nil {
		nc.Close()
		t.Fatal("plaintext client connected to a TLS controller")
	}
}

func TestControllerDropsBadInputAndKeepsWorking(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	a := ct.EnrollConfig(t, cl, c, "web-1", dir)
	nc, err := connectAs(t, c, a.NKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := messages.HeartbeatSubject("web-1")
	for _, in := range [][]byte{nil, []byte("garbage"), []byte(strings.Repeat("[", 200<<10)), []byte(`{"v":1,"kind":"party"}`), []byte(`{"v":7,"kind":"heartbeat"}`)} {
		if err := nc.Publish(hb, in); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	// The API answers garbage with an error, not a crash.
	admin := cl.Conn()
	for _, subj := range []string{messages.APIHostList, messages.APIFleetStatus, messages.APIHostEnroll} {
		m, err := admin.Request(subj, []byte("\x00\xffnot json"), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		var resp messages.APIResponse[json.RawMessage]
		if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Error == nil || resp.Error.Code != messages.CodeBadRequest {
			t.Fatalf("%s: garbage not refused: %s", subj, m.Data)
		}
	}
	for _, req := range []messages.EnrollRequest{{Host: "Bad.Host", PublicKey: "U"}, {Host: "ok", PublicKey: "not-a-key"}} {
		if _, err := cl.Enroll(context.Background(), req); err == nil {
			t.Errorf("enroll %+v accepted", req)
		}
	}
	if _, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{TimeoutMs: int64(time.Hour / time.Millisecond)}); err == nil {
		t.Error("hour-long timeout accepted")
	}
	// Garbage heartbeats registered nothing; a real agent still registers.
	ct.RunAgent(t, ct.EnrollConfig(t, cl, c, "web-2", dir))
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		if len(hl.Hosts) != 2 || hl.Hosts[0].ID != "web-1" || hl.Hosts[0].LastSeen != 0 ||
			hl.Hosts[1].ID != "web-2" || hl.Hosts[1].State != messages.StateOnline {
			return fmt.Errorf("registry: %+v", hl.Hosts)
		}
		return nil
	})
}

func TestRegistryAndIdentitiesSurviveControllerRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c1 := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir })
	cl := ct.Client(t, c1)
	cfg := ct.EnrollConfig(t, cl, c1, "web-1", t.TempDir())
	port := c1.Server().Addr().String()
	a := ct.RunAgent(t, cfg)
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil || len(hl.Hosts) != 1 {
			return fmt.Errorf("%v %v", hl, err)
		}
		return nil
	})
	c1.Shutdown()

	c2 := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir; o.Listen = port })
	cl2, err := client.Connect(context.Background(), client.Options{URL: c2.URLs()[0], CredsFile: c2.AdminCredsPath(), CAFile: ct.WriteCA(t, c2)})
	if err != nil {
		t.Fatalf("admin credentials from before the restart refused: %v", err)
	}
	defer cl2.Close()
	// The agent reconnects by itself with its old identity and is online.
	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := cl2.FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{"web-1"}, TimeoutMs: 1000})
		if err != nil {
			return err
		}
		if len(res.Responded) != 1 {
			return fmt.Errorf("missing: %+v", res.Missing)
		}
		return nil
	})
	_ = a
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(b)))
}
