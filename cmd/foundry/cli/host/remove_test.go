package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
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
	var ta *ct.Agent
	ta = ct.RunAgentWith(t, cfg, ct.AgentOptions{Uninstall: func(_ context.Context, a messages.UninstallArgs) (messages.UninstallReply, error) {
		time.AfterFunc(200*time.Millisecond, func() { ta.Stop() }) // systemd's stop after the reply
		return messages.UninstallReply{Removed: []string{"/usr/local/bin/foundry-agent", "/etc/foundry"},
			KeyRemoved: a.SSHUser == "admin" && a.AuthorizedKey == line}, nil
	}})
	ct.WaitOnline(t, cl, 1)

	ios, _, out, _ := cmdutil.Test()
	err = removeRun(context.Background(), &RemoveOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Home: func() (string, error) { return home, nil },
		Keys: func() (*secrets.SSHKeyStore, error) { return store, nil }, Hosts: []string{"web-1"}, Yes: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "web-1: agent removed /usr/local/bin/foundry-agent, /etc/foundry\n" +
		"web-1: Foundry's SSH key removed from admin's authorized_keys\n" +
		"web-1: agent stopped (its connection closed)\n" +
		"web-1: NATS identity revoked (1 key(s))\n" +
		"web-1: SSH private key deleted from the file key store\n" +
		"web-1: removed (via nats)\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if _, err := store.LoadSSHKey(context.Background(), "web-1"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("key still in the store: %v", err)
	}
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
