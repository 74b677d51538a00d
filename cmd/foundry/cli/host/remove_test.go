package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// host remove says what was done, step by step and only after it was
// done, hands the agent exactly the key line to take out of
// authorized_keys, and deletes the private key from the store.
func TestRemoveSaysWhatItDidAndDeletesTheKey(t *testing.T) {
	fx := newRemoveFixture(t, func(a messages.UninstallArgs, line string) messages.UninstallReply {
		return messages.UninstallReply{Removed: []string{"/usr/local/bin/foundry-agent", "/etc/foundry"},
			KeyRemoved: a.SSHUser == "admin" && a.AuthorizedKey == line}
	})
	out, err := fx.remove()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "web-1: agent removed /usr/local/bin/foundry-agent, /etc/foundry\n" +
		"web-1: Foundry's SSH key removed from admin's authorized_keys\n" +
		"web-1: agent stopped (its connection closed)\n" +
		"web-1: NATS identity revoked (1 key(s))\n" +
		"web-1: SSH private key deleted from the file key store\n" +
		"web-1: removed (via nats)\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if _, err := fx.store.LoadSSHKey(context.Background(), "web-1"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("key still in the store: %v", err)
	}
}

// An agent from before the removal report only scheduled its removal: it
// is not claimed to have removed the SSH key, the key stays in the store,
// and the exit status says something is left to do.
func TestRemoveOfAnOlderAgentKeepsTheKeyAndSaysSo(t *testing.T) {
	fx := newRemoveFixture(t, func(messages.UninstallArgs, string) messages.UninstallReply {
		return messages.UninstallReply{} // what an older agent's empty reply decodes to
	})
	out, err := fx.remove()
	if err == nil || !strings.Contains(out, "agent accepted the uninstall (an older agent") ||
		!strings.Contains(out, "too old to remove Foundry's SSH key") || strings.Contains(out, "removed from admin's authorized_keys") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	if _, err := fx.store.LoadSSHKey(context.Background(), "web-1"); err != nil {
		t.Errorf("key gone from the store although the host may still accept it: %v", err)
	}
}

type removeFixture struct {
	t     *testing.T
	c     *controller.Controller
	home  string
	store *secrets.SSHKeyStore
}

// newRemoveFixture enrolls web-1 (SSH user admin, a key in a file store)
// and runs its agent with uninstall; the agent is stopped a moment after
// it replies, as systemd does on a host.
// uninstall gets the arguments and the key line the agent should have
// been given.
func newRemoveFixture(t *testing.T, uninstall func(a messages.UninstallArgs, line string) messages.UninstallReply) *removeFixture {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	home := t.TempDir()
	store, _ := secrets.NewSSHKeyStore(secrets.SSHKeysFile, nil, home)
	priv, line, err := ssh.GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.StoreSSHKey(context.Background(), "web-1", priv); err != nil {
		t.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	nk := filepath.Join(home, "web-1.nk")
	os.WriteFile(nk, seed, 0o600)
	res, err := cl.Enroll(context.Background(), messages.EnrollRequest{Host: "web-1", PublicKey: pub, Address: "192.0.2.10", SSHUser: "admin", SSHPort: 22})
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{ID: "web-1", URLs: res.URLs, NKeyFile: nk, TrustedKeys: res.TrustedKeys, Heartbeat: 200 * time.Millisecond,
		CAFile: filepath.Join(home, "ca.pem")}
	os.WriteFile(cfg.CAFile, []byte(res.CAPEM), 0o644)
	var running atomic.Pointer[ct.Agent] // set once the agent runs, read by its uninstall
	ta := ct.RunAgentWith(t, cfg, ct.AgentOptions{Uninstall: func(_ context.Context, a messages.UninstallArgs) (messages.UninstallReply, error) {
		time.AfterFunc(200*time.Millisecond, func() { running.Load().Stop() }) // systemd's stop after the reply
		return uninstall(a, line), nil
	}})
	running.Store(ta)
	ct.WaitOnline(t, cl, 1)
	return &removeFixture{t: t, c: c, home: home, store: store}
}

func (fx *removeFixture) remove() (string, error) {
	ios, _, out, _ := cmdutil.Test()
	err := removeRun(context.Background(), &RemoveOptions{IO: ios, Connect: ct.ConnectFunc(fx.t, fx.c), Home: func() (string, error) { return fx.home, nil },
		Keys: func() (*secrets.SSHKeyStore, error) { return fx.store, nil }, Hosts: []string{"web-1"}, Yes: true})
	return out.String(), err
}

// A read-only operator's host remove is refused by the controller, and
// the CLI does not claim the host's credentials were revoked.
func TestRemoveRefusedForReadOnlyOperatorRevokesNothing(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	creds := ct.CreateOperator(t, admin, "viewer", messages.RoleReadOnly)
	home := t.TempDir()
	store, _ := secrets.NewSSHKeyStore(secrets.SSHKeysFile, nil, home)
	ios, _, out, _ := cmdutil.Test()
	err := removeRun(context.Background(), &RemoveOptions{IO: ios, Home: func() (string, error) { return home, nil },
		Connect: func(context.Context) (*client.Client, error) { return ct.ClientAs(t, c, creds) },
		Keys:    func() (*secrets.SSHKeyStore, error) { return store, nil }, Hosts: []string{"web-1"}, Yes: true})
	if err == nil {
		t.Fatalf("read-only remove succeeded:\n%s", out)
	}
	if strings.Contains(err.Error()+out.String(), "revoked") || !strings.Contains(err.Error(), "keep their NATS credentials") {
		t.Fatalf("refused remove says: %v\n%s", err, out)
	}
	hl, err := admin.HostList(context.Background())
	if err != nil || len(hl.Hosts) != 1 || hl.Hosts[0].ID != "web-1" {
		t.Fatalf("host gone after a refused remove: %+v %v", hl, err)
	}
}
