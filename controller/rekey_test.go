package controller_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// stealSeed copies an agent's seed file the way an attacker who owned the
// host for a while would, and returns the copy's path.
func stealSeed(t *testing.T, seedFile string) string {
	t.Helper()
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	p := t.TempDir() + "/stolen.nk"
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// squat takes the identity's two free connection slots with a stolen
// seed, the first listening on the host's command subject and answering
// as the host would, and checks that the identity is then full.
func squat(t *testing.T, c *controller.Controller, stolen, host string) []*nats.Conn {
	t.Helper()
	var out []*nats.Conn
	for range 2 {
		nc, err := connectAs(t, c, stolen, nats.Name("foundry-agent:"+host))
		if err != nil {
			t.Fatalf("squatter connect: %v", err)
		}
		out = append(out, nc)
	}
	subj, _ := messages.CommandSubject(host)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	forged, _ := json.Marshal(messages.Reply{V: messages.Version, Host: host, Payload: json.RawMessage(`{"public_key":"` + pub + `"}`)})
	if _, err := out[0].Subscribe(subj, func(m *nats.Msg) { _ = m.Respond(forged) }); err != nil {
		t.Fatal(err)
	}
	if err := out[0].Flush(); err != nil {
		t.Fatal(err)
	}
	if nc, err := connectAs(t, c, stolen); err == nil {
		nc.Close()
		t.Fatal("a fourth connection of the identity was accepted; the slot limit is not what this test assumes")
	}
	return out
}

func waitClosed(t *testing.T, conns []*nats.Conn) {
	t.Helper()
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for i, nc := range conns {
			if !nc.IsClosed() {
				return fmt.Errorf("squatter connection %d still open (%s)", i, nc.Status())
			}
		}
		return nil
	})
}

// checkRekeyed checks the host's side after a rekey: its seed file holds
// the enrolled key, private, nothing is left staged, the stolen seed is
// refused, and commands reach the real agent.
func checkRekeyed(t *testing.T, c *controller.Controller, admin *client.Client, cfg agent.Config, stolen, pub string) {
	t.Helper()
	if nc, err := connectAs(t, c, stolen); err == nil {
		nc.Close()
		t.Fatal("the stolen seed still authenticates after rekey")
	}
	if got, _ := keyPair(t, cfg.NKeyFile).PublicKey(); got != pub {
		t.Fatalf("seed file holds %s, the controller enrolled %s", got, pub)
	}
	if st, err := os.Stat(cfg.NKeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode: %v %v", st, err)
	}
	if _, err := os.Stat(cfg.NKeyFile + ".next"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staged seed left behind: %v", err)
	}
	st, err := admin.FleetStatus(t.Context(), messages.FleetStatusRequest{Hosts: []string{cfg.ID}, TimeoutMs: 5000})
	if err != nil || len(st.Responded) != 1 || len(st.Missing) != 0 {
		t.Fatalf("status after rekey: %+v %v", st, err)
	}
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		hl, err := admin.HostList(t.Context())
		if err != nil || len(hl.Hosts) != 1 || hl.Hosts[0].State != messages.StateOnline {
			return fmt.Errorf("host after rekey: %+v %v", hl, err)
		}
		return nil
	})
}

// A seed copied off a host stops working once the host is rekeyed
// through its agent: the new key is made on the host, the agent moves to
// it without going offline, and the old key is revoked.
func TestRekeyThroughAgentLocksOutStolenSeed(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	stolen := stealSeed(t, cfg.NKeyFile)
	oldPub, _ := keyPair(t, cfg.NKeyFile).PublicKey()
	ct.RunAgent(t, cfg)
	ct.WaitOnline(t, admin, 1)

	res, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1"})
	if err != nil {
		t.Fatalf("rekey: %v", err)
	}
	if res.PublicKey == "" || res.PublicKey == oldPub || !slices.Equal(res.Revoked, []string{oldPub}) || !res.AgentOnline {
		t.Fatalf("rekey result %+v: want a new key, %s revoked and the agent online", res, oldPub)
	}
	checkRekeyed(t, c, admin, cfg, stolen, res.PublicKey)
	// Again: the host's key rotates once more, and the rotation before
	// is as dead as the original.
	res2, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1"})
	if err != nil || !slices.Equal(res2.Revoked, []string{res.PublicKey}) {
		t.Fatalf("second rekey: %+v %v", res2, err)
	}
	checkRekeyed(t, c, admin, cfg, stolen, res2.PublicKey)
}

// With a squatter on the key, whoever answers the agent's prepare would
// choose the new key, so the rekey through NATS refuses, says to use
// --ssh, and changes nothing; the squatter's forged key is never
// enrolled.
func TestRekeyThroughAgentRefusedWhileSquatterConnected(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	stolen := stealSeed(t, cfg.NKeyFile)
	ct.RunAgent(t, cfg)
	ct.WaitOnline(t, admin, 1)
	squat(t, c, stolen, "web-1")

	_, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1"})
	if messages.CodeOf(err) != messages.CodeConflict || !strings.Contains(err.Error(), "--ssh") {
		t.Fatalf("rekey with a squatter: %v, want %s naming --ssh", err, messages.CodeConflict)
	}
	if keys := c.AgentKeys("web-1"); len(keys) != 1 {
		t.Fatalf("host has %d keys after a refused rekey, want its one", len(keys))
	}
}

// The SSH path cuts a squatter off: the new key made on the host is
// enrolled beside the old, the host switches to it (here: the seed is
// replaced and the agent restarted, as the SSH script does), and finish
// revokes the old key, closing the squatter's connections; the stolen
// seed is refused from then on.
func TestRekeySSHStepsCutOffSquatter(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	stolen := stealSeed(t, cfg.NKeyFile)
	a := ct.RunAgent(t, cfg)
	ct.WaitOnline(t, admin, 1)
	conns := squat(t, c, stolen, "web-1")

	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	if _, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1", Step: messages.HostRekeyAdd, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.NKeyFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	ct.RunAgent(t, cfg)
	res, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1", Step: messages.HostRekeyFinish, PublicKey: pub})
	if err != nil || len(res.Revoked) != 1 || res.Disconnected < 2 || !res.AgentOnline {
		t.Fatalf("finish: %+v %v; want the old key revoked, the squatter's 2 connections closed, the agent online", res, err)
	}
	waitClosed(t, conns)
	checkRekeyed(t, c, admin, cfg, stolen, pub)
}

// An agent that cannot be reached is not rekeyed through NATS: the error
// says to use --ssh, and nothing is revoked (the host would otherwise be
// locked out with a key it still has).
func TestRekeyOfUnreachableAgentRevokesNothing(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	a := ct.RunAgent(t, cfg)
	ct.WaitOnline(t, admin, 1)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1"})
	if messages.CodeOf(err) != messages.CodeUnavailable {
		t.Fatalf("rekey of a stopped agent: %v, want %s", err, messages.CodeUnavailable)
	}
	if nc, err := connectAs(t, c, cfg.NKeyFile); err != nil {
		t.Fatalf("the host's key stopped working after a failed rekey: %v", err)
	} else {
		nc.Close()
	}
}

// The SSH path's API: a key made elsewhere is enrolled beside the current
// one (both work), and finish revokes every other key of the host.
func TestRekeyAddThenFinishRevokesTheOldKey(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	newSeed := t.TempDir() + "/new.nk"
	if err := os.WriteFile(newSeed, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1", Step: messages.HostRekeyFinish, PublicKey: pub}); messages.CodeOf(err) != messages.CodeConflict {
		t.Fatalf("finish with a key never added: %v, want %s", err, messages.CodeConflict)
	}
	if _, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1", Step: messages.HostRekeyAdd, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	old, err := connectAs(t, c, cfg.NKeyFile)
	if err != nil {
		t.Fatalf("old key refused after add: %v", err)
	}
	// The host on its new key (the finish waits to see it connected).
	if _, err := connectAs(t, c, newSeed); err != nil {
		t.Fatalf("new key refused after add: %v", err)
	}
	res, err := admin.RekeyHost(t.Context(), messages.HostRekeyRequest{Host: "web-1", Step: messages.HostRekeyFinish, PublicKey: pub})
	if err != nil || len(res.Revoked) != 1 || res.Disconnected != 1 {
		t.Fatalf("finish: %+v %v", res, err)
	}
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !old.IsClosed() {
			return errors.New("connection with the old key still open")
		}
		return nil
	})
	if nc, err := connectAs(t, c, cfg.NKeyFile); err == nil {
		nc.Close()
		t.Fatal("old key accepted after finish")
	}
	if nc, err := connectAs(t, c, newSeed); err != nil {
		t.Fatalf("new key refused after finish: %v", err)
	} else {
		nc.Close()
	}
}

// A commit naming a key the host did not stage is refused and leaves the
// host's seed as it was.
func TestAgentRefusesCommitOfKeyItDidNotStage(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	ct.RunAgent(t, cfg)
	ct.WaitOnline(t, admin, 1)
	before, _ := os.ReadFile(cfg.NKeyFile)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	for _, args := range []messages.RekeyArgs{{Step: messages.RekeyCommit, PublicKey: pub}, {Step: messages.RekeyPrepare}, {Step: messages.RekeyCommit, PublicKey: pub}} {
		env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbRekey, []string{"web-1"}, args)
		env.Operator, env.Role = "admin", messages.RoleAdmin
		c.Signer().Sign(env)
		r := commandTo(t, c.InternalConn(), "web-1", env)
		if args.Step == messages.RekeyPrepare {
			if r.Error != nil {
				t.Fatalf("prepare: %v", r.Error)
			}
			continue
		}
		if r.Error == nil || r.Error.Code != messages.CodeConflict {
			t.Fatalf("commit of a foreign key: %+v, want %s", r.Error, messages.CodeConflict)
		}
	}
	if after, _ := os.ReadFile(cfg.NKeyFile); string(after) != string(before) {
		t.Fatal("the seed file changed after refused commits")
	}
}
